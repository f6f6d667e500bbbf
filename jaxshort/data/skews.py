"""Synthetic class-coded cues for counterfactual (clean, skewed) pairs (Tsoy & Konstantinov, 2025,
sections 1 and 3; docs/localization.md).

A cue is stamped on an RGB image in the colour of a class: a square `patch` (size and position configurable) or a
`tint` (the whole image blended towards the colour). `skewed_pair` turns one split into a clean and a skewed split
with the same examples in the same order: the skewed split stamps the cue of its own label on a fraction rho of
the images (cue field = that class, -1 elsewhere), the clean split has no cue. `cue_test_sets` makes the three
test sets: T_clean (no cue), T_aligned (cue = label), T_conflict (the cue of another class, drawn from the seed).
In the skewed splits `num_cues == num_classes` and group = label * num_classes + cue.
"""

import ml_collections
import numpy as np

from jaxshort.constraints import choice, integer, number
from jaxshort.data.schema import Dataset, Split, group_of
from jaxshort.errors import UserError

# Twelve well-separated colours (uint8 RGB): class c gets CUE_COLORS[c]; more classes cycle through hue.
CUE_COLORS = np.array([
    [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48],
    [145, 30, 180], [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212],
    [0, 128, 128], [170, 110, 40]], np.uint8)
CUE_KINDS = ("patch", "tint")
POSITIONS = ("top_left", "top_right", "bottom_left", "bottom_right", "center")
LOCALIZATION_SPLITS = ("train_clean", "train_skewed", "test_clean", "test_aligned", "test_conflict")
# The roles of a localization dataset (synthetic or natural cue) -> its split names. `train` and the two test
# roles of the generic summaries point at the skewed training split and at T_aligned / T_conflict.
LOCALIZATION_ROLES = {"train": "train_skewed", "clean_train": "train_clean", "skewed_train": "train_skewed",
                      "clean_test": "test_clean", "aligned_test": "test_aligned", "conflict_test": "test_conflict",
                      "in_distribution": "test_aligned", "out_of_distribution": "test_conflict"}


def cue_colors(num_classes: int) -> np.ndarray:
  """uint8 [num_classes, 3]: the colour that encodes each class."""
  if num_classes <= len(CUE_COLORS):
    return CUE_COLORS[:num_classes]
  hues = np.linspace(0, 1, num_classes, endpoint=False)
  rgb = 0.5 + 0.5 * np.cos(2 * np.pi * (hues[:, None] - np.array([0, 1 / 3, 2 / 3])))
  return np.round(255 * rgb).astype(np.uint8)


def to_rgb(images: np.ndarray) -> np.ndarray:
  """uint8 [N, H, W, 1 or 3] -> uint8 [N, H, W, 3] (grey repeated over the channels)."""
  if images.shape[-1] == 3:
    return images
  if images.shape[-1] != 1:
    raise UserError(f"cues are stamped on grey or RGB images, got {images.shape[-1]} channels")
  return np.repeat(images, 3, axis=-1)


def patch_box(image_size: tuple[int, int], size: int, position: str) -> tuple[slice, slice]:
  """(rows, cols) slices of a `size` x `size` patch at `position` of an image [H, W]."""
  height, width = image_size
  if position not in POSITIONS:
    raise UserError(f"cue position must be one of {POSITIONS}, got {position!r}")
  if not 0 < size <= min(height, width):
    raise UserError(f"cue patch size must lie in [1, {min(height, width)}], got {size}")
  top = {"top": 0, "bottom": height - size}.get(position.split("_")[0], (height - size) // 2)
  left = {"left": 0, "right": width - size}.get(position.split("_")[-1], (width - size) // 2)
  return slice(top, top + size), slice(left, left + size)


def stamp_cue(images: np.ndarray, cues: np.ndarray, num_classes: int, kind: str = "patch", size: int = 4,
              position: str = "top_left", tint_strength: float = 0.5) -> np.ndarray:
  """A copy of `images` (uint8 [N, H, W, 1|3]) as RGB with the cue of class cues[i] (int [N]; -1: none) stamped.

  patch: a `size` x `size` square of the class colour at `position`; tint: the image blended with the class
  colour, (1 - tint_strength) * image + tint_strength * colour. Returns uint8 [N, H, W, 3].
  """
  images = to_rgb(np.asarray(images, np.uint8)).copy()
  cues = np.asarray(cues)
  stamped = np.flatnonzero(cues >= 0)
  colors = cue_colors(num_classes)[cues[stamped]]  # [n, 3]
  if kind == "patch":
    rows, cols = patch_box(images.shape[1:3], size, position)
    images[stamped, rows, cols] = colors[:, None, None, :]
  elif kind == "tint":
    if not 0.0 < tint_strength <= 1.0:
      raise UserError(f"cue tint_strength must lie in (0, 1], got {tint_strength}")
    blended = (1 - tint_strength) * images[stamped] + tint_strength * colors[:, None, None, :].astype(float)
    images[stamped] = np.round(blended).astype(np.uint8)
  else:
    raise UserError(f"cue kind must be one of {CUE_KINDS}, got {kind!r}")
  return images


def with_cues(split: Split, cues: np.ndarray, num_classes: int, **cue_kwargs) -> Split:
  """`split` with `cues` (int [N], -1: none) stamped on its images and written to its cue and group fields."""
  cues = np.asarray(cues, np.int32)
  return {**split, "image": stamp_cue(split["image"], cues, num_classes, **cue_kwargs), "cue": cues,
          "group": group_of(split["label"], cues, num_classes)}


def skewed_pair(split: Split, num_classes: int, rho: float, seed: int, **cue_kwargs) -> tuple[Split, Split]:
  """(clean, skewed): the same examples in the same order; the skewed split carries the cue of its own label on
  each image independently with probability `rho` (so cue/label agreement is rho up to sampling error).

  split: a split in the schema (images [N, H, W, 1|3]); cue_kwargs go to `stamp_cue`. Both returned images are
  uint8 [N, H, W, 3].
  """
  if not 0.0 <= rho <= 1.0:
    raise UserError(f"skew rho must be a probability in [0, 1], got {rho}")
  n = len(split["label"])
  stamped = np.random.default_rng([seed, 0x5CE4]).random(n) < rho
  clean = with_cues(split, np.full(n, -1), num_classes, **cue_kwargs)
  skewed = with_cues(split, np.where(stamped, split["label"], -1), num_classes, **cue_kwargs)
  return clean, skewed


def conflicting_cues(labels: np.ndarray, num_classes: int, seed: int) -> np.ndarray:
  """int [N]: for each label a different class, uniform over the other num_classes - 1, drawn from `seed`."""
  offsets = np.random.default_rng([seed, 0xC0F1]).integers(1, num_classes, len(labels))
  return ((np.asarray(labels) + offsets) % num_classes).astype(np.int32)


def cue_test_sets(split: Split, num_classes: int, seed: int, **cue_kwargs) -> dict[str, Split]:
  """{test_clean, test_aligned, test_conflict}: the same examples with no cue, the cue of their label, and the
  cue of another class (deterministic from `seed`). Images uint8 [N, H, W, 3]."""
  n = len(split["label"])
  return {
      "test_clean": with_cues(split, np.full(n, -1), num_classes, **cue_kwargs),
      "test_aligned": with_cues(split, split["label"], num_classes, **cue_kwargs),
      "test_conflict": with_cues(split, conflicting_cues(split["label"], num_classes, seed), num_classes,
                                 **cue_kwargs),
  }


def cue_defaults(size: int = 4) -> ml_collections.ConfigDict:
  """The cue fields of a dataset config that stamps a synthetic cue, with their defaults."""
  config = ml_collections.ConfigDict()
  config.cue_kind = "patch"        # 'patch' or 'tint'
  config.cue_size = size           # patch side in pixels
  config.cue_position = "top_left"
  config.tint_strength = 0.5       # only for cue_kind 'tint'
  return config


CUE_RULES = {"cue_kind": choice(*CUE_KINDS), "cue_size": integer(1), "cue_position": choice(*POSITIONS),
             "tint_strength": number(0, 1, low_open=True)}


def cue_kwargs_from(config: ml_collections.ConfigDict) -> dict:
  """The `stamp_cue` settings of a dataset config: cue_kind, cue_size, cue_position, tint_strength."""
  return {"kind": config.cue_kind, "size": config.cue_size, "position": config.cue_position,
          "tint_strength": config.tint_strength}


def cue_skew_dataset(name: str, train: Split, test: Split, num_classes: int, class_names: tuple[str, ...],
                     rho: float, seed: int, cue_kwargs: dict, info: dict | None = None) -> Dataset:
  """A localization dataset with the splits LOCALIZATION_SPLITS built from one train and one test split.

  Roles: LOCALIZATION_ROLES: train (= train_skewed), clean_train, skewed_train, clean_test, aligned_test,
  conflict_test, and in_distribution / out_of_distribution (= test_aligned / test_conflict).
  """
  train_clean, train_skewed = skewed_pair(train, num_classes, rho, seed, **cue_kwargs)
  splits = {"train_clean": train_clean, "train_skewed": train_skewed,
            **cue_test_sets(test, num_classes, seed, **cue_kwargs)}
  color_names = tuple(f"cue{c}" for c in range(num_classes))
  return Dataset(
      name=name, splits=splits, num_classes=num_classes, num_cues=num_classes, class_names=class_names,
      cue_names=color_names,
      roles=dict(LOCALIZATION_ROLES),
      info={"seed": seed, "rho": rho, "cue": dict(cue_kwargs),
            "cue_colors": cue_colors(num_classes).tolist(), **(info or {})})
