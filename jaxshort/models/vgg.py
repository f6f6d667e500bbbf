"""VGG (Simonyan & Zisserman, 2015), laid out as torchvision's `vgg11`, `vgg16` and their `_bn` variants.

Blocks: stage1..stage5 (the convs up to and including each 2x2 max-pool) and head (adaptive average pooling to
`pool_size` x `pool_size`, then the three-layer classifier). With the defaults at 224x224 and 1000 classes,
VGG-16 has 138,357,544 parameters, like torchvision's.
"""

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from jaxshort.constraints import boolean, integer, number, relation, sequence
from jaxshort.models.layers import adaptive_avg_pool, batch_norm, block_names, conv, sow_block

VGG11_DEPTHS = (1, 1, 2, 2, 2)
VGG16_DEPTHS = (2, 2, 3, 3, 3)


class VGGStage(nn.Module):
  """`depth` 3x3 convs (with bias), each followed by batch norm (optional) and ReLU, then a 2x2 max-pool."""
  features: int
  depth: int
  batch_norm: bool

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool) -> jnp.ndarray:
    """x [B, H, W, C] -> [B, H/2, W/2, features]."""
    for i in range(1, self.depth + 1):
      x = conv(self.features, 3, use_bias=True, name=f"conv{i}")(x)
      if self.batch_norm:
        x = batch_norm(train, name=f"bn{i}")(x)
      x = nn.relu(x)
    return nn.max_pool(x, (2, 2), strides=(2, 2))


class VGGHead(nn.Module):
  """Adaptive average pool to pool_size^2 cells, flatten, fc1 -> ReLU -> dropout -> fc2 -> ReLU -> dropout -> fc3."""
  num_classes: int
  hidden: int
  pool_size: int
  dropout: float

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool) -> jnp.ndarray:
    """x [B, H, W, C] -> logits [B, num_classes]."""
    x = adaptive_avg_pool(x, self.pool_size).reshape((x.shape[0], -1))
    for name in ("fc1", "fc2"):
      x = nn.relu(nn.Dense(self.hidden, name=name)(x))
      x = nn.Dropout(self.dropout, deterministic=not train)(x)
    return nn.Dense(self.num_classes, name="fc3")(x)


class VGG(nn.Module):
  """VGG with `depths[i]` convs of width `widths[i]` in stage i+1. For 32x32 inputs, `pool_size=1` and a small
  `hidden` give the usual CIFAR variant."""
  num_classes: int
  depths: Sequence[int] = VGG16_DEPTHS
  widths: Sequence[int] = (64, 128, 256, 512, 512)
  batch_norm: bool = False
  hidden: int = 4096  # width of the two hidden classifier layers
  pool_size: int = 7  # the classifier sees pool_size x pool_size cells of the last stage
  dropout: float = 0.5
  FIELD_RULES = {"depths": sequence(integer(1), min_length=1), "widths": sequence(integer(1), min_length=1),
                 "batch_norm": boolean(), "hidden": integer(1), "pool_size": integer(1),
                 "dropout": number(0, 1, high_open=True)}
  FIELD_RELATIONS = (relation(("depths", "widths"), lambda d, w: len(d) == len(w),
                              "depths and widths must have one entry per stage"),)

  @property
  def blocks(self) -> tuple[str, ...]:
    return block_names(len(self.depths))

  @nn.compact
  def __call__(self, images: jnp.ndarray, train: bool = False) -> jnp.ndarray:
    """images float [B, H, W, C] -> logits [B, num_classes]."""
    x = images
    for name, depth, width in zip(self.blocks[:-1], self.depths, self.widths, strict=True):
      x = sow_block(VGGStage(width, depth, self.batch_norm, name=name), x, train)
    return sow_block(VGGHead(self.num_classes, self.hidden, self.pool_size, self.dropout, name="head"), x, train)
