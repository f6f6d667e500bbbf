"""ResNet (He et al., 2016) in torchvision's layout (v1.5: a bottleneck block strides in its 3x3 conv).

Blocks: stem, stage1..stage4 (torchvision's layer1..layer4), head (global average pooling and a Dense layer).
Two stems: "imagenet" (7x7/2 conv, batch norm, ReLU, 3x3/2 max-pool) and "cifar" (3x3/1 conv, batch norm,
ReLU, no pooling) for 32x32 inputs. At 1000 classes, ResNet-18 has 11,689,512 parameters and ResNet-50
25,557,032, like torchvision's.
"""

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from jaxshort.constraints import boolean, choice, integer, relation, sequence
from jaxshort.errors import require
from jaxshort.models.layers import batch_norm, block_names, conv, sow_block

RESNET18_STAGES = (2, 2, 2, 2)
RESNET50_STAGES = (3, 4, 6, 3)
STEMS = ("imagenet", "cifar")


class ResNetStem(nn.Module):
  """The ImageNet stem ([B, H, W, C] -> [B, H/4, W/4, features]) or the CIFAR stem (same resolution)."""
  features: int
  kind: str

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool) -> jnp.ndarray:
    imagenet = self.kind == "imagenet"
    x = conv(self.features, 7 if imagenet else 3, stride=2 if imagenet else 1, name="conv")(x)
    x = nn.relu(batch_norm(train, name="bn")(x))
    if imagenet:
      x = nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
    return x


class ResNetBlock(nn.Module):
  """A residual block: torchvision's BasicBlock (two 3x3 convs) or, with `bottleneck`, its Bottleneck (1x1, 3x3
  carrying the stride, 1x1 to 4 x features). A 1x1 conv + batch norm projects the shortcut when shapes differ."""
  features: int
  stride: int
  bottleneck: bool

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool) -> jnp.ndarray:
    """x [B, H, W, C] -> [B, H/stride, W/stride, features (x4 for a bottleneck)]."""
    if self.bottleneck:
      layers = [(self.features, 1, 1), (self.features, 3, self.stride), (4 * self.features, 1, 1)]
    else:
      layers = [(self.features, 3, self.stride), (self.features, 3, 1)]
    y = x
    for i, (features, kernel, stride) in enumerate(layers, 1):
      y = batch_norm(train, name=f"bn{i}")(conv(features, kernel, stride, name=f"conv{i}")(y))
      if i < len(layers):
        y = nn.relu(y)
    if x.shape != y.shape:
      x = conv(y.shape[-1], 1, self.stride, name="downsample_conv")(x)
      x = batch_norm(train, name="downsample_bn")(x)
    return nn.relu(x + y)


class ResNetStage(nn.Module):
  """`depth` ResNetBlocks; the first one strides by `stride`."""
  features: int
  depth: int
  stride: int
  bottleneck: bool

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool) -> jnp.ndarray:
    for i in range(self.depth):
      x = ResNetBlock(self.features, self.stride if i == 0 else 1, self.bottleneck, name=f"block{i + 1}")(x, train)
    return x


class ResNet(nn.Module):
  """ResNet with `stage_sizes[i]` blocks of width `widths[i]` in stage i+1 (the stem has widths[0] channels)."""
  num_classes: int
  stage_sizes: Sequence[int] = RESNET18_STAGES
  widths: Sequence[int] = (64, 128, 256, 512)
  bottleneck: bool = False  # Bottleneck blocks (ResNet-50 and deeper) instead of BasicBlocks
  stem: str = "imagenet"  # "imagenet" (7x7/2 conv + max-pool) or "cifar" (3x3/1 conv, no pooling)
  FIELD_RULES = {"stage_sizes": sequence(integer(1), min_length=1), "widths": sequence(integer(1), min_length=1),
                 "bottleneck": boolean(), "stem": choice(*STEMS)}
  FIELD_RELATIONS = (relation(("stage_sizes", "widths"), lambda s, w: len(s) == len(w),
                              "stage_sizes and widths must have one entry per stage"),)

  @property
  def blocks(self) -> tuple[str, ...]:
    return block_names(len(self.stage_sizes), first="stem")

  @nn.compact
  def __call__(self, images: jnp.ndarray, train: bool = False) -> jnp.ndarray:
    """images float [B, H, W, C] -> logits [B, num_classes]."""
    require(self.stem in STEMS, f"ResNet stem must be one of {STEMS}, not {self.stem!r}")
    x = sow_block(ResNetStem(self.widths[0], self.stem, name="stem"), images, train)
    stages = self.blocks[1:-1]
    for i, (name, depth, width) in enumerate(zip(stages, self.stage_sizes, self.widths, strict=True)):
      x = sow_block(ResNetStage(width, depth, 1 if i == 0 else 2, self.bottleneck, name=name), x, train)
    return sow_block(nn.Dense(self.num_classes, name="head"), x.mean(axis=(1, 2)))
