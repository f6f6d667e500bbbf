"""On-the-fly preprocessing inside the jitted step: pure functions of (images uint8 [B, H, W, C], rng).

Randomness comes from `batch_rng(seed, step)`, so the augmentation of batch k depends on (seed, k) alone: a
resumed run and the two runs of a counterfactual pair see exactly the same crops and flips. Resizing a whole
dataset once at load time is `files.resize_all`; `resize` here is for resizing batches on the device.
"""

from typing import Sequence

import jax
import jax.numpy as jnp

# Per-channel statistics of the training images, on the [0, 1] scale.
CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def batch_rng(seed: int, step: int | jax.Array) -> jax.Array:
  """The augmentation key of training batch `step` of a run with `seed`."""
  return jax.random.fold_in(jax.random.key(seed), step)


def resize(images: jax.Array, size: int | tuple[int, int]) -> jax.Array:
  """uint8 [B, H, W, C] -> uint8 [B, S, S, C] (or [B, *size, C]), bilinear (antialiased when shrinking)."""
  height, width = (size, size) if isinstance(size, int) else size
  resized = jax.image.resize(images.astype(jnp.float32), (images.shape[0], height, width, images.shape[3]),
                             method="bilinear")
  return jnp.clip(jnp.round(resized), 0, 255).astype(jnp.uint8)


def normalize(images: jax.Array, mean: Sequence[float], std: Sequence[float]) -> jax.Array:
  """uint8 [..., C] -> float32 [..., C]: (x / 255 - mean) / std per channel."""
  mean, std = jnp.asarray(mean, jnp.float32), jnp.asarray(std, jnp.float32)
  return (images.astype(jnp.float32) / 255.0 - mean) / std


def random_flip(images: jax.Array, rng: jax.Array) -> jax.Array:
  """[B, H, W, C] -> [B, H, W, C], each image mirrored left-right with probability 1/2."""
  flip = jax.random.bernoulli(rng, 0.5, (images.shape[0],))
  return jnp.where(flip[:, None, None, None], images[:, :, ::-1, :], images)


def random_crop(images: jax.Array, rng: jax.Array, padding: int) -> jax.Array:
  """[B, H, W, C] -> [B, H, W, C]: each image zero-padded by `padding` on every side, then cropped back to
  H x W at a uniformly random offset."""
  if padding == 0:
    return images
  batch, height, width, _ = images.shape
  padded = jnp.pad(images, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
  offsets = jax.random.randint(rng, (batch, 2), 0, 2 * padding + 1)
  crop = lambda image, offset: jax.lax.dynamic_slice(image, (offset[0], offset[1], 0),
                                                     (height, width, image.shape[-1]))
  return jax.vmap(crop)(padded, offsets)


def crop_and_flip(images: jax.Array, rng: jax.Array, padding: int = 4, flip: bool = True) -> jax.Array:
  """The standard CIFAR augmentation: `random_crop` with `padding`, then `random_flip`. uint8 in, uint8 out."""
  crop_rng, flip_rng = jax.random.split(rng)
  images = random_crop(images, crop_rng, padding)
  return random_flip(images, flip_rng) if flip else images
