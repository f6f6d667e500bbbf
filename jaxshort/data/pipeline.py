"""Deterministic batching. Training batches are a pure function of (seed, step), so a resumed run sees exactly
the batches an uninterrupted run would; evaluation batches are padded to one shape and carry a `mask`."""

from typing import Iterator

import jax.numpy as jnp
import numpy as np

from jaxshort.data.augment import IMAGENET_MEAN, IMAGENET_STD, normalize
from jaxshort.data.schema import Split
from jaxshort.errors import UserError

# How uint8 images become the model's float input. 'symmetric': [0, 255] -> [-1, 1], for models trained here
# from a fresh init; 'imagenet': (x / 255 - mean) / std with ImageNet's per-channel statistics, what torchvision's
# and timm's ImageNet weights were trained with (models.input_normalization picks it when model.pretrained is set);
# 'none': the images are already the model's input (float32 as given; models trained elsewhere, see
# experiments.localize.localize_models).
INPUT_NORMALIZATIONS = ("symmetric", "imagenet", "none")


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
  """Full batches in one pass over the data (the remainder of each epoch is dropped)."""
  if batch_size > num_examples:
    raise UserError(f"batch_size {batch_size} is larger than the training split ({num_examples} examples); "
                    f"lower batch_size")
  return num_examples // batch_size


def batch_indices(num_examples: int, batch_size: int, seed: int, step: int) -> np.ndarray:
  """Example indices int [batch_size] of training batch `step`: epoch e is a permutation drawn from (seed, e)."""
  per_epoch = steps_per_epoch(num_examples, batch_size)
  epoch, position = divmod(step, per_epoch)
  order = np.random.default_rng([seed, epoch]).permutation(num_examples)
  return order[position * batch_size:(position + 1) * batch_size]


def chunk_indices(num_examples: int, batch_size: int, seed: int, first_step: int, num_steps: int) -> np.ndarray:
  """int32 [num_steps, batch_size]: `batch_indices` of steps first_step .. first_step + num_steps - 1 (each
  epoch's permutation drawn once)."""
  per_epoch = steps_per_epoch(num_examples, batch_size)
  orders = {}
  rows = []
  for step in range(first_step, first_step + num_steps):
    epoch, position = divmod(step, per_epoch)
    if epoch not in orders:
      orders[epoch] = np.random.default_rng([seed, epoch]).permutation(num_examples)
    rows.append(orders[epoch][position * batch_size:(position + 1) * batch_size])
  return np.stack(rows).astype(np.int32)


def train_batches(split: Split, batch_size: int, seed: int, start_step: int = 0) -> Iterator[Split]:
  """Training batches from `start_step` on, forever; batch k depends only on (seed, k). Each batch also holds
  `index`, int32 [B]: the rows' positions in the split (for methods that keep a statistic per example)."""
  num_examples = len(split["label"])
  step = start_step
  while True:
    index = batch_indices(num_examples, batch_size, seed, step)
    yield {**{key: value[index] for key, value in split.items()}, "index": index.astype(np.int32)}
    step += 1


def chunked(split: Split, chunk_size: int) -> dict[str, np.ndarray]:
  """image, label, group and a validity `mask` of a split, padded and reshaped to [num_chunks, chunk_size, ...]:
  a whole split as one array per field, for one program that maps over its chunks."""
  n = len(split["label"])
  num_chunks = -(-n // chunk_size)
  index = np.arange(num_chunks * chunk_size)
  valid = index < n
  index = np.minimum(index, n - 1)
  fields = {key: split[key][index] for key in ("image", "label", "group")}
  fields["mask"] = valid
  return {key: value.reshape(num_chunks, chunk_size, *value.shape[1:]) for key, value in fields.items()}


def eval_batches(split: Split, batch_size: int) -> Iterator[Split]:
  """The split in order, in batches of exactly `batch_size` (or of the split's size, where it is smaller); the last
  is padded and `mask` marks real rows."""
  num_examples = len(split["label"])
  batch_size = min(batch_size, num_examples)
  for start in range(0, num_examples, batch_size):
    index = np.arange(start, start + batch_size)
    mask = index < num_examples
    index = np.minimum(index, num_examples - 1)
    batch = {key: value[index] for key, value in split.items()}
    batch["mask"] = mask
    yield batch


def normalize_images(images: jnp.ndarray, normalization: str = "symmetric") -> jnp.ndarray:
  """uint8 images [..., H, W, C] to the model's float32 input (see INPUT_NORMALIZATIONS); the one place every
  caller (training, evaluation, hybrid tables, probes, predictions) preprocesses images. Done inside the jitted
  programs, to move 4x fewer bytes."""
  if normalization == "symmetric":
    return images.astype(jnp.float32) * (2.0 / 255.0) - 1.0
  if normalization == "none":
    return images.astype(jnp.float32)
  if normalization == "imagenet":
    if images.shape[-1] != len(IMAGENET_MEAN):
      raise ValueError(f"ImageNet normalization needs RGB images, got {images.shape[-1]} channel(s)")
    return normalize(images, IMAGENET_MEAN, IMAGENET_STD)
  raise ValueError(f"normalization must be one of {INPUT_NORMALIZATIONS}, got {normalization!r}")
