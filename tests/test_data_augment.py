"""Augmentation: shapes and dtypes, determinism in (seed, step), and that crops and flips move pixels only."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np

from jaxshort.data import augment

IMAGES = jnp.asarray(np.random.default_rng(0).integers(0, 256, (8, 12, 10, 3), dtype=np.uint8))


def test_crop_and_flip_is_a_pure_function_of_seed_and_step():
  run = jax.jit(functools.partial(augment.crop_and_flip, padding=2))
  first = run(IMAGES, augment.batch_rng(3, 7))
  chex.assert_shape(first, IMAGES.shape)
  assert first.dtype == jnp.uint8
  assert np.array_equal(first, run(IMAGES, augment.batch_rng(3, 7)))
  assert not np.array_equal(first, run(IMAGES, augment.batch_rng(3, 8)))


def test_flip_mirrors_or_keeps_each_image():
  flipped = augment.random_flip(IMAGES, jax.random.key(1))
  kinds = [np.array_equal(f, x) or np.array_equal(f, x[:, ::-1]) for f, x in zip(flipped, IMAGES)]
  assert all(kinds)
  assert 0 < sum(not np.array_equal(f, x) for f, x in zip(flipped, IMAGES)) < len(IMAGES)


def test_crop_is_a_shifted_window_of_the_zero_padded_image():
  cropped = np.asarray(augment.random_crop(IMAGES, jax.random.key(2), padding=3))
  padded = np.pad(np.asarray(IMAGES), ((0, 0), (3, 3), (3, 3), (0, 0)))
  for c, p in zip(cropped, padded):
    assert any(np.array_equal(c, p[i:i + 12, j:j + 10]) for i in range(7) for j in range(7))


def test_resize_and_normalize():
  resized = jax.jit(augment.resize, static_argnums=1)(IMAGES, 6)
  chex.assert_shape(resized, (8, 6, 6, 3))
  assert resized.dtype == jnp.uint8
  constant = jnp.full((1, 4, 4, 3), 128, jnp.uint8)
  assert np.array_equal(augment.resize(constant, (8, 2)), jnp.full((1, 8, 2, 3), 128, jnp.uint8))
  normalized = augment.normalize(constant, augment.CIFAR10_MEAN, augment.CIFAR10_STD)
  expected = (128 / 255 - np.array(augment.CIFAR10_MEAN)) / np.array(augment.CIFAR10_STD)
  np.testing.assert_allclose(normalized[0, 0, 0], expected, rtol=1e-5)


def test_one_trace_for_every_step():
  @jax.jit
  @chex.assert_max_traces(n=1)
  def run(images, step):
    return augment.crop_and_flip(images, augment.batch_rng(0, step))
  for step in range(3):
    run(IMAGES, jnp.int32(step))
