"""The door for a user's own data: any (images, labels[, cues]) arrays held in memory."""

from typing import Sequence

import numpy as np

from jaxshort.data.schema import Split, group_of
from jaxshort.errors import UserError


def to_uint8_images(images: np.ndarray) -> np.ndarray:
  """[N, H, W] or [N, H, W, C] images as uint8 [N, H, W, C]; floats must lie in [0, 1] or [0, 255]."""
  images = np.asarray(images)
  if images.ndim == 3:
    images = images[..., None]
  if images.ndim != 4:
    raise UserError(f"images must be [N, H, W] or [N, H, W, C], got shape {list(images.shape)}")
  if images.dtype == np.uint8:
    return images
  if not np.all(np.isfinite(images)):
    raise UserError("images contain NaN or inf; clean the array before building a dataset from it")
  high = images.max() if images.size else 0
  if images.min() < 0 or high > 255:
    raise UserError(f"image values must lie in [0, 1] or [0, 255], found {images.min()}..{high}")
  scale = 255.0 if high <= 1.0 else 1.0
  return np.round(images * scale).astype(np.uint8)


def make_split(images: np.ndarray, labels: np.ndarray, cues: np.ndarray | None = None,
               ids: np.ndarray | None = None, num_cues: int = 1) -> Split:
  """A split in the schema of `schema.py` from in-memory arrays. Cues default to -1 (none)."""
  labels = np.asarray(labels)
  if labels.ndim != 1:
    raise UserError(f"labels must be a 1-D integer array, got shape {list(labels.shape)}")
  n = len(labels)
  cues = np.full(n, -1, np.int32) if cues is None else np.asarray(cues, np.int32)
  ids = np.arange(n, dtype=np.int32) if ids is None else np.asarray(ids, np.int32)
  images = to_uint8_images(images)
  if len(images) != n or len(cues) != n or len(ids) != n:
    raise UserError(f"images ({len(images)}), labels ({n}), cues ({len(cues)}) and ids ({len(ids)}) differ in length")
  return {"image": images, "label": labels.astype(np.int32), "cue": cues, "group": group_of(labels, cues, num_cues),
          "id": ids}


def take(split: Split, index: np.ndarray | Sequence[int]) -> Split:
  """The rows `index` of every field of `split`."""
  index = np.asarray(index)
  return {key: value[index] for key, value in split.items()}
