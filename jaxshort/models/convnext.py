"""ConvNeXt (Liu et al., 2022) in timm's layout.

Blocks: stem (4x4/4 patchify conv and layer norm), stage1..stage4 (stages 2-4 open with a layer norm and a 2x2/2
conv that halves the resolution), head (global average pooling, layer norm, Dense). At 224x224 and 1000 classes,
ConvNeXt-T has 28,589,128 parameters, like timm's convnext_tiny.
"""

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from jaxshort.constraints import integer, number, relation, sequence
from jaxshort.models.layers import (block_names, conv, drop_path, drop_path_rates, gelu, layer_norm, patchify,
                                     sow_block)

CONVNEXT_T = dict(depths=(3, 3, 9, 3), dims=(96, 192, 384, 768))
CONVNEXT_NANO = dict(depths=(2, 2, 8, 2), dims=(80, 160, 320, 640))
CONVNEXT_ATTO = dict(depths=(2, 2, 6, 2), dims=(40, 80, 160, 320))


class ConvNeXtLayer(nn.Module):
  """x + gamma * fc2(GELU(fc1(norm(depthwise 7x7 conv(x))))), gamma a learned per-channel layer scale."""
  drop_path: float
  layer_scale_init: float

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool) -> jnp.ndarray:
    """x [B, H, W, C] -> [B, H, W, C]."""
    width = x.shape[-1]
    y = conv(width, 7, use_bias=True, groups=width, name="conv_dw")(x)
    y = gelu(nn.Dense(4 * width, name="fc1")(layer_norm("norm")(y)))
    y = nn.Dense(width, name="fc2")(y)
    gamma = self.param("gamma", nn.initializers.constant(self.layer_scale_init), (width,))
    return x + drop_path(gamma * y, self.drop_path, train)


class ConvNeXtStage(nn.Module):
  """Optionally a downsampling layer norm + 2x2/2 conv to `width`, then ConvNeXtLayers named layer1..."""
  width: int
  downsample: bool
  drop_paths: tuple[float, ...]
  layer_scale_init: float

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool) -> jnp.ndarray:
    if self.downsample:
      x = patchify(self.width, 2, name="downsample_conv")(layer_norm("downsample_norm")(x))
    for i, rate in enumerate(self.drop_paths):
      x = ConvNeXtLayer(rate, self.layer_scale_init, name=f"layer{i + 1}")(x, train)
    return x


class ConvNeXtStem(nn.Module):
  """4x4/4 patchify conv and layer norm: [B, H, W, C] -> [B, H/4, W/4, width]."""
  width: int

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    return layer_norm("norm")(patchify(self.width, 4, name="conv")(x))


class ConvNeXtHead(nn.Module):
  """Global average pooling, layer norm, Dense: [B, H, W, C] -> logits [B, num_classes]."""
  num_classes: int

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    return nn.Dense(self.num_classes, name="fc")(layer_norm("norm")(x.mean(axis=(1, 2))))


class ConvNeXt(nn.Module):
  """ConvNeXt with `depths[i]` layers of width `dims[i]` in stage i+1; the defaults are ConvNeXt-T."""
  num_classes: int
  depths: Sequence[int] = CONVNEXT_T["depths"]
  dims: Sequence[int] = CONVNEXT_T["dims"]
  drop_path: float = 0.0  # stochastic depth, rising linearly to this rate at the last layer
  layer_scale_init: float = 1e-6
  FIELD_RULES = {"depths": sequence(integer(1), min_length=1), "dims": sequence(integer(1), min_length=1),
                 "drop_path": number(0, 1, high_open=True), "layer_scale_init": number(0, low_open=True)}
  FIELD_RELATIONS = (relation(("depths", "dims"), lambda d, w: len(d) == len(w),
                              "depths and dims must have one entry per stage"),)

  @property
  def blocks(self) -> tuple[str, ...]:
    return block_names(len(self.depths), first="stem")

  @nn.compact
  def __call__(self, images: jnp.ndarray, train: bool = False) -> jnp.ndarray:
    """images float [B, H, W, C] (H, W multiples of 32) -> logits [B, num_classes]."""
    x = sow_block(ConvNeXtStem(self.dims[0], name="stem"), images)
    rates = drop_path_rates(tuple(self.depths), self.drop_path)
    for i, (name, width, stage_rates) in enumerate(zip(self.blocks[1:-1], self.dims, rates, strict=True)):
      x = sow_block(ConvNeXtStage(width, i > 0, tuple(stage_rates), self.layer_scale_init, name=name), x, train)
    return sow_block(ConvNeXtHead(self.num_classes, name="head"), x)
