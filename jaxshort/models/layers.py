"""Layers and helpers shared by the model families, with the numerics of their PyTorch references.

Convolutions pad like PyTorch (`kernel // 2` on every side), so a strided conv sees the same pixels as the
torchvision/timm model it is converted from; norms use the same epsilons.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp


def block_names(num_stages: int, first: str | None = None, last: str = "head") -> tuple[str, ...]:
  """The ordered block names ([first,] stage1, .., stage{num_stages}, last) that key a model's params."""
  stages = tuple(f"stage{i + 1}" for i in range(num_stages))
  return ((first,) if first else ()) + stages + (last,)


def sow_block(block: nn.Module, *args, **kwargs):
  """Calls `block` (a child of the calling model) and sows its output into the `intermediates` collection under
  the block's own name, as intermediates[block.name]["output"] = (output,), for probes; returns the output.
  (flax forbids a variable named like a submodule, so the output cannot sit directly at intermediates[name].)"""
  output = block(*args, **kwargs)
  block.sow("intermediates", "output", output)
  return output


def split_depth(depth: int, num_stages: int) -> tuple[int, ...]:
  """`depth` layers split into `num_stages` contiguous groups, earlier groups one larger when uneven."""
  base, extra = divmod(depth, num_stages)
  return tuple(base + (i < extra) for i in range(num_stages))


def conv(features: int, kernel: int, stride: int = 1, use_bias: bool = False, groups: int = 1,
         name: str | None = None) -> nn.Conv:
  """A square conv padded by kernel // 2 on each side, like PyTorch's `padding=kernel // 2`."""
  pad = kernel // 2
  return nn.Conv(features, (kernel, kernel), strides=(stride, stride), padding=((pad, pad), (pad, pad)),
                 use_bias=use_bias, feature_group_count=groups, name=name)


def patchify(features: int, patch: int, name: str | None = None) -> nn.Conv:
  """A conv with kernel = stride = `patch` and no padding: [B, H, W, C] -> [B, H/patch, W/patch, features]."""
  return nn.Conv(features, (patch, patch), strides=(patch, patch), padding="VALID", name=name)


def batch_norm(train: bool, name: str | None = None) -> nn.BatchNorm:
  """Batch norm with PyTorch's defaults (momentum 0.1 there is 0.9 here, eps 1e-5)."""
  return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, name=name)


def layer_norm(name: str | None = None) -> nn.LayerNorm:
  """Layer norm over the last axis with eps 1e-6, as in timm's ViT and ConvNeXt."""
  return nn.LayerNorm(epsilon=1e-6, name=name)


def gelu(x: jnp.ndarray) -> jnp.ndarray:
  """Exact (erf) GELU, as PyTorch's nn.GELU(); flax's default is the tanh approximation."""
  return nn.gelu(x, approximate=False)


def drop_path(x: jnp.ndarray, rate: float, train: bool) -> jnp.ndarray:
  """Stochastic depth: zeroes whole examples of a residual branch x [B, ...] with probability `rate` in training
  (rescaling the rest); uses the 'dropout' rng."""
  if rate == 0.0 or not train:
    return x
  return nn.Dropout(rate, broadcast_dims=tuple(range(1, x.ndim)), deterministic=False)(x)


def drop_path_rates(depths: tuple[int, ...], max_rate: float) -> list[list[float]]:
  """Per-stage lists of stochastic-depth rates rising linearly from 0 to `max_rate` over all layers."""
  total = sum(depths)
  rates = [max_rate * i / max(total - 1, 1) for i in range(total)]
  starts = [sum(depths[:i]) for i in range(len(depths))]
  return [rates[start:start + depth] for start, depth in zip(starts, depths)]


def adaptive_avg_pool(x: jnp.ndarray, size: int) -> jnp.ndarray:
  """PyTorch's AdaptiveAvgPool2d((size, size)): [B, H, W, C] -> [B, size, size, C]; cell i averages rows
  floor(i*H/size) .. ceil((i+1)*H/size), so it is the identity when H = W = size and repeats when H < size."""
  def pool_axis(x: jnp.ndarray, axis: int) -> jnp.ndarray:
    n = x.shape[axis]
    bounds = [(i * n // size, -(-(i + 1) * n // size)) for i in range(size)]  # (floor, ceil)
    cells = [jax.lax.slice_in_dim(x, start, end, axis=axis).mean(axis=axis, keepdims=True) for start, end in bounds]
    return jnp.concatenate(cells, axis=axis)
  if x.shape[1] == x.shape[2] == size:
    return x
  return pool_axis(pool_axis(x, 1), 2)
