"""Small models for CPU runs: an MLP and a small CNN.

Every model in jaxshort names its ordered blocks in `blocks`; the top-level keys of its `params` (and
`batch_stats`, if any) are exactly these names, so splicing, freezing and per-block learning rates are tree
operations. Each block is a submodule, so a block's output is what that submodule returns (the probes of
jaxshort/localization read it there with `nn.intercept_methods`).
"""

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from jaxshort.constraints import boolean, integer, sequence


class DenseBlock(nn.Module):
  """Dense, then ReLU."""
  features: int

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    return nn.relu(nn.Dense(self.features)(x))


class MLP(nn.Module):
  """Flatten, then `len(widths)` DenseBlocks named layer1.., then a Dense `head`."""
  num_classes: int
  widths: Sequence[int] = (256, 256)
  FIELD_RULES = {"widths": sequence(integer(1), min_length=1)}

  @property
  def blocks(self) -> tuple[str, ...]:
    return tuple(f"layer{i + 1}" for i in range(len(self.widths))) + ("head",)

  @nn.compact
  def __call__(self, images: jnp.ndarray, train: bool = False) -> jnp.ndarray:
    """images float [B, H, W, C] -> logits [B, num_classes]."""
    x = images.reshape((images.shape[0], -1))
    for name, width in zip(self.blocks, self.widths):
      x = DenseBlock(width, name=name)(x)
    return nn.Dense(self.num_classes, name="head")(x)


class ConvBlock(nn.Module):
  """3x3 conv, optional batch norm, ReLU, 2x2 max-pool."""
  features: int
  batch_norm: bool = True

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool) -> jnp.ndarray:
    x = nn.Conv(self.features, (3, 3), use_bias=not self.batch_norm)(x)
    if self.batch_norm:
      x = nn.BatchNorm(use_running_average=not train, momentum=0.9)(x)
    x = nn.relu(x)
    return nn.max_pool(x, (2, 2), strides=(2, 2))


class SmallCNN(nn.Module):
  """`len(widths)` ConvBlocks named conv1.., global average pooling, a Dense `head`."""
  num_classes: int
  widths: Sequence[int] = (32, 64, 128)
  batch_norm: bool = True
  FIELD_RULES = {"widths": sequence(integer(1), min_length=1), "batch_norm": boolean()}

  @property
  def blocks(self) -> tuple[str, ...]:
    return tuple(f"conv{i + 1}" for i in range(len(self.widths))) + ("head",)

  @nn.compact
  def __call__(self, images: jnp.ndarray, train: bool = False) -> jnp.ndarray:
    """images float [B, H, W, C] -> logits [B, num_classes]."""
    x = images
    for name, width in zip(self.blocks, self.widths):
      x = ConvBlock(width, self.batch_norm, name=name)(x, train)
    x = x.mean(axis=(1, 2))
    return nn.Dense(self.num_classes, name="head")(x)
