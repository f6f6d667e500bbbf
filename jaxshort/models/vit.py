"""DeiT (Touvron et al., 2021): a ViT with a class token and an optional distillation token, in timm's layout.

Blocks: embed (patch projection, class/distillation tokens, position embedding), stage1..stage{num_stages} (the
transformer layers split into contiguous groups, 3 each for 12 layers and 4 stages), head (final layer norm and
the classifier on the class token). With a distillation token the logits are the mean of `head` on the class token
and `head_dist` on the distillation token, as timm's distilled DeiT gives at inference.
At 224x224 and 1000 classes, DeiT-S has 22,050,664 parameters, like timm's deit_small_patch16_224.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxshort.constraints import boolean, integer, number, relation
from jaxshort.models.layers import (block_names, drop_path, drop_path_rates, gelu, layer_norm, patchify, sow_block,
                                     split_depth)

INIT = nn.initializers.truncated_normal(0.02)


def self_attention(qkv: jnp.ndarray, num_heads: int) -> jnp.ndarray:
  """Multi-head attention from packed projections qkv [B, N, 3*D] (timm's order: q, k, v, then heads)
  -> [B, N, D], softmax(q k^T / sqrt(D / num_heads)) v per head."""
  batch, tokens, width = qkv.shape
  q, k, v = qkv.reshape(batch, tokens, 3, num_heads, width // (3 * num_heads)).transpose(2, 0, 1, 3, 4)
  return jax.nn.dot_product_attention(q, k, v).reshape(batch, tokens, width // 3)


class Embed(nn.Module):
  """Patches -> tokens [B, prefix + H/patch * W/patch, D], prefix the class (and distillation) token, plus a
  learned position embedding."""
  embed_dim: int
  patch_size: int
  distilled: bool

  @nn.compact
  def __call__(self, images: jnp.ndarray) -> jnp.ndarray:
    x = patchify(self.embed_dim, self.patch_size, name="proj")(images)
    x = x.reshape((x.shape[0], -1, self.embed_dim))
    names = ("cls_token", "dist_token") if self.distilled else ("cls_token",)
    prefix = [self.param(name, INIT, (1, 1, self.embed_dim)) for name in names]
    x = jnp.concatenate([jnp.broadcast_to(t, (x.shape[0], 1, self.embed_dim)) for t in prefix] + [x], axis=1)
    return x + self.param("pos_embed", INIT, (1, x.shape[1], self.embed_dim))


class EncoderLayer(nn.Module):
  """Pre-norm transformer layer: x + attention(norm1(x)), then x + MLP(norm2(x)) with an exact GELU."""
  num_heads: int
  mlp_ratio: float
  drop_path: float

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool) -> jnp.ndarray:
    """x [B, N, D] -> [B, N, D]."""
    width = x.shape[-1]
    qkv = nn.Dense(3 * width, kernel_init=INIT, name="qkv")(layer_norm("norm1")(x))
    y = nn.Dense(width, kernel_init=INIT, name="proj")(self_attention(qkv, self.num_heads))
    x = x + drop_path(y, self.drop_path, train)
    y = gelu(nn.Dense(int(width * self.mlp_ratio), kernel_init=INIT, name="fc1")(layer_norm("norm2")(x)))
    y = nn.Dense(width, kernel_init=INIT, name="fc2")(y)
    return x + drop_path(y, self.drop_path, train)


class EncoderStage(nn.Module):
  """EncoderLayers named layer1.., one per entry of `drop_paths`."""
  num_heads: int
  mlp_ratio: float
  drop_paths: tuple[float, ...]

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool) -> jnp.ndarray:
    for i, rate in enumerate(self.drop_paths):
      x = EncoderLayer(self.num_heads, self.mlp_ratio, rate, name=f"layer{i + 1}")(x, train)
    return x


class DeiTHead(nn.Module):
  """Final layer norm, then `head` on the class token (averaged with `head_dist` on the distillation token)."""
  num_classes: int
  distilled: bool

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    """tokens [B, N, D] -> logits [B, num_classes]."""
    x = layer_norm("norm")(x)
    logits = nn.Dense(self.num_classes, name="head")(x[:, 0])
    if self.distilled:
      logits = (logits + nn.Dense(self.num_classes, name="head_dist")(x[:, 1])) / 2
    return logits


class DeiT(nn.Module):
  """A ViT of `depth` layers of width `embed_dim` on `patch_size` patches; the defaults are DeiT-Ti."""
  num_classes: int
  embed_dim: int = 192
  depth: int = 12
  num_heads: int = 3
  patch_size: int = 16
  mlp_ratio: float = 4.0
  distilled: bool = False  # add a distillation token and a second head
  num_stages: int = 4  # the layers are grouped into this many blocks
  drop_path: float = 0.0  # stochastic depth, rising linearly to this rate at the last layer
  FIELD_RULES = {"embed_dim": integer(1), "depth": integer(1), "num_heads": integer(1), "patch_size": integer(1),
                 "mlp_ratio": number(0, low_open=True), "distilled": boolean(), "num_stages": integer(1),
                 "drop_path": number(0, 1, high_open=True)}
  FIELD_RELATIONS = (relation(("embed_dim", "num_heads"), lambda e, h: e % h == 0,
                              "embed_dim must be a multiple of num_heads"),
                     relation(("num_stages", "depth"), lambda s, d: s <= d,
                              "num_stages (blocks of layers) must be at most depth (layers)"))

  @property
  def blocks(self) -> tuple[str, ...]:
    return block_names(self.num_stages, first="embed")

  @nn.compact
  def __call__(self, images: jnp.ndarray, train: bool = False) -> jnp.ndarray:
    """images float [B, H, W, C] (H, W multiples of patch_size) -> logits [B, num_classes]."""
    x = sow_block(Embed(self.embed_dim, self.patch_size, self.distilled, name="embed"), images)
    rates = drop_path_rates(split_depth(self.depth, self.num_stages), self.drop_path)
    for name, stage_rates in zip(self.blocks[1:-1], rates, strict=True):
      x = sow_block(EncoderStage(self.num_heads, self.mlp_ratio, tuple(stage_rates), name=name), x, train)
    return sow_block(DeiTHead(self.num_classes, self.distilled, name="head"), x)
