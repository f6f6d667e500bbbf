"""The door for a user's own data: any (images, labels[, cues]) arrays held in memory."""

import os
from typing import Sequence

import ml_collections
import numpy as np

from jaxshort.constraints import choice, integer, text
from jaxshort.data.schema import Dataset, Split, group_of
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


ROLE_SPLITS = {"train": ("train",), "validation": ("val", "validation"),
               "in_distribution": ("test_id", "test"), "out_of_distribution": ("test_ood",)}


def default_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.name = "arrays"
  config.path = ""         # a .npz file with <split>_image and <split>_label arrays (see `arrays_dataset`)
  config.num_classes = 0   # 0: 1 + the largest label found
  config.num_cues = 0      # 0: 1 + the largest cue found
  return config


FIELD_RULES = {
    "name": choice("arrays"), "path": text(),
    "num_classes": integer(0), "num_cues": integer(0),  # 0: inferred from the data
}


def arrays_dataset(config, seed: int):
  """A user's own data from one .npz file (`config.path`) with arrays `<split>_image` ([N, H, W(, C)], uint8 or
  float in [0, 1]) and `<split>_label` (int [N]), optionally `<split>_cue` (int [N], -1 for none).

  Splits are named by the prefixes found; a `train` split is required, and `val`, `test_id`/`test` and
  `test_ood` take the validation, in- and out-of-distribution roles where present. `config.num_classes` and
  `config.num_cues` give the number of labels and cue values (0: 1 + the largest value found). `seed` is unused: the file fixes the splits.
  """
  del seed
  path = config.path
  if not path:
    raise UserError("dataset 'arrays' needs dataset.path, a .npz file with <split>_image and <split>_label arrays")
  try:
    with np.load(path) as archive:
      arrays = {key: archive[key] for key in archive.files}
  except FileNotFoundError:
    raise UserError(f"dataset file {path!r} not found; pass dataset.path=<a .npz with <split>_image and "
                    f"<split>_label arrays>") from None
  except Exception as error:  # zipfile, pickle and value errors of a corrupt file  pylint: disable=broad-except
    raise UserError(f"dataset file {path!r} cannot be read as .npz ({type(error).__name__}: {error}); "
                    f"write it again with numpy.savez") from None
  names = sorted({key.rsplit("_", 1)[0] for key in arrays if key.endswith(("_image", "_label"))})
  if "train" not in names:
    raise UserError(f"dataset file {path!r} has no train split (arrays train_image and train_label); found "
                    f"{sorted(arrays)}")
  for name in names:
    for field in ("image", "label"):
      if f"{name}_{field}" not in arrays:
        raise UserError(f"dataset file {path!r}: split {name!r} has no {name}_{field} array")
    label = arrays[f"{name}_label"]
    if label.size and not np.issubdtype(label.dtype, np.integer):
      raise UserError(f"dataset file {path!r}: {name}_label must hold integers, got {label.dtype}")
  num_classes = config.num_classes or int(max(arrays[f"{n}_label"].max(initial=0) for n in names)) + 1
  cues = [arrays[f"{n}_cue"] for n in names if f"{n}_cue" in arrays]
  num_cues = config.num_cues or (int(max(c.max(initial=-1) for c in cues)) + 1 if cues else 1)
  splits, offset = {}, 0
  for name in names:
    n = len(arrays[f"{name}_label"])
    splits[name] = make_split(arrays[f"{name}_image"], arrays[f"{name}_label"], arrays.get(f"{name}_cue"),
                              ids=np.arange(offset, offset + n), num_cues=max(num_cues, 1))
    offset += n
  roles = {role: next(s for s in candidates if s in splits)
           for role, candidates in ROLE_SPLITS.items() if any(s in splits for s in candidates)}
  return Dataset(name="arrays", splits=splits, num_classes=num_classes, num_cues=max(num_cues, 1),
                 class_names=tuple(str(c) for c in range(num_classes)),
                 cue_names=tuple(str(c) for c in range(max(num_cues, 1))), roles=roles,
                 info={"source": os.path.abspath(path)})
