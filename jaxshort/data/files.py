"""Reading official dataset files from a local folder: one message for a missing or broken file, one image reader,
checksums, and deterministic subsampling. Nothing here downloads."""

import hashlib
import os
from typing import Sequence

import numpy as np

from jaxshort.data.arrays import make_split
from jaxshort.errors import UserError

NO_CHECKSUM = "none is published"


def file_error(path: str, problem: str, how_to_get: str, checksum: str = NO_CHECKSUM) -> UserError:
  """The one message for a dataset file that is missing, partial or corrupt: which file, where, how, checksum."""
  return UserError(f"{problem}: {os.path.basename(path.rstrip(os.sep))} (looked for {path}); {how_to_get}; "
                   f"expected checksum: {checksum}")


def require_file(path: str, how_to_get: str, checksum: str = NO_CHECKSUM) -> str:
  """`path` if it exists (file or folder), else the `file_error` for a missing file."""
  if not os.path.exists(path):
    raise file_error(path, "missing dataset file", how_to_get, checksum)
  return path


def md5_of(path: str) -> str:
  """Hex md5 of the file at `path`, read in 1 MiB chunks."""
  digest = hashlib.md5()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      digest.update(chunk)
  return digest.hexdigest()


def verify_md5(path: str, expected: str, how_to_get: str) -> None:
  """Raises the `file_error` for a corrupt file unless the md5 of `path` is `expected`."""
  found = md5_of(path)
  if found != expected:
    raise file_error(path, f"dataset file is partial or corrupt (md5 {found})", how_to_get, f"md5 {expected}")


def _hw(size: int | tuple[int, int] | None) -> tuple[int, int] | None:
  """(H, W) from an int (square; 0 or less means keep), a pair, or None (keep)."""
  if isinstance(size, int):
    return (size, size) if size > 0 else None
  return None if size is None else tuple(size)


def fit_image(image, size: int | tuple[int, int] | None, crop_square: bool = False) -> np.ndarray:
  """uint8 [H', W', 3] from a PIL image or a uint8 [H, W, C] array: RGB, centre-cropped to a square where
  `crop_square`, then resized bilinearly to `size` (int for square, (H', W'), or None to keep)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  if isinstance(image, np.ndarray):
    image = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
  image = image.convert("RGB")
  if crop_square and image.width != image.height:
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    image = image.crop((left, top, left + side, top + side))
  size = _hw(size)
  if size is not None and image.size != (size[1], size[0]):
    image = image.resize((size[1], size[0]), Image.BILINEAR)
  return np.asarray(image, np.uint8)


def read_images(paths: Sequence[str], size: int | tuple[int, int] | None, how_to_get: str,
                crop_square: bool = False) -> np.ndarray:
  """uint8 [N, H, W, 3] RGB images read with Pillow, each passed through `fit_image` (None keeps the files' own
  size, which must then agree). A missing or unreadable image is a `file_error`."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  size = _hw(size)
  images = []
  for path in paths:
    require_file(path, how_to_get)
    try:
      with Image.open(path) as image:
        images.append(fit_image(image, size, crop_square))
    except (OSError, SyntaxError, ValueError) as error:
      raise file_error(path, f"unreadable image ({type(error).__name__})", how_to_get) from None
  if size is None and len({image.shape for image in images}) > 1:
    raise UserError(f"images under {os.path.dirname(paths[0])} differ in size; set dataset.image_size to resize them")
  return np.stack(images) if images else np.zeros((0, *(size or (1, 1)), 3), np.uint8)


def resize_all(images: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
  """uint8 [N, H, W, C] -> uint8 [N, S, S, 3] (or [N, *size, 3]), bilinear, once at load time."""
  if _hw(size) is None or images.shape[1:3] == _hw(size):
    return images
  return np.stack([fit_image(image, size) for image in images])


def subsample(index: np.ndarray, limit: int, seed: int, salt: int) -> np.ndarray:
  """At most `limit` entries of `index` (all where `limit` <= 0), a random subset from (seed, salt), kept in order."""
  index = np.asarray(index)
  if limit <= 0 or len(index) <= limit:
    return index
  keep = np.random.default_rng([seed, salt]).choice(len(index), limit, replace=False)
  return index[np.sort(keep)]


def carve(num_examples: int, fraction: float, seed: int, salt: int) -> tuple[np.ndarray, np.ndarray]:
  """Disjoint sorted index arrays (rest [N - k], carved [k]) with k = round(fraction * N), drawn from (seed, salt)."""
  if not 0.0 < fraction < 1.0:
    raise UserError(f"a validation fraction must lie in (0, 1), got {fraction}")
  order = np.random.default_rng([seed, salt]).permutation(num_examples)
  k = int(round(fraction * num_examples))
  return np.sort(order[k:]), np.sort(order[:k])


def read_csv(path: str, columns: Sequence[str], how_to_get: str, checksum: str = NO_CHECKSUM) -> dict[str, np.ndarray]:
  """The `columns` of the CSV file at `path` as string arrays [N]; a missing file, a missing column or a ragged
  row is a `file_error`."""
  import csv  # pylint: disable=g-import-not-at-top
  require_file(path, how_to_get, checksum)
  try:
    with open(path, newline="") as f:
      rows = list(csv.DictReader(f))
  except (OSError, UnicodeDecodeError, csv.Error) as error:
    raise file_error(path, f"unreadable table ({type(error).__name__})", how_to_get, checksum) from None
  header = rows[0].keys() if rows else []
  missing = [c for c in columns if c not in header]
  if missing or not rows:
    why = f"lacks the columns {missing}" if missing else "has no rows"
    raise file_error(path, f"partial or corrupt table ({why})", how_to_get, checksum)
  if any(row[c] is None for row in rows for c in columns):
    raise file_error(path, "partial or corrupt table (a row ends early)", how_to_get, checksum)
  return {c: np.array([row[c] for row in rows]) for c in columns}


def to_ints(values: np.ndarray, path: str, column: str, how_to_get: str) -> np.ndarray:
  """int32 [N] from the strings `values` of `column` in the file at `path`; non-integers are a `file_error`."""
  try:
    return np.array([int(float(v)) for v in values], np.int32)
  except ValueError:
    raise file_error(path, f"corrupt table (column {column!r} holds a non-integer)", how_to_get) from None


def image_splits(root: str, table: dict[str, np.ndarray], split_names: Sequence[str], num_cues: int,
                 size: int | tuple[int, int] | None, max_per_split: int, seed: int, how_to_get: str,
                 crop_square: bool = False) -> dict:
  """Splits in the schema of `schema.py` from a table of image files.

  table: 'path' [N] (relative to `root`), 'label', 'cue', 'id' int [N], and 'split' [N] holding names from
  `split_names`. Each split keeps at most `max_per_split` rows (a seeded subset; 0 keeps all), in table order,
  and reads only those images through `fit_image(image, size, crop_square)`.
  """
  splits = {}
  for salt, name in enumerate(split_names):
    index = subsample(np.flatnonzero(table["split"] == name), max_per_split, seed, salt)
    images = read_images([os.path.join(root, p) for p in table["path"][index]], size, how_to_get, crop_square)
    splits[name] = make_split(images, table["label"][index], table["cue"][index], table["id"][index], num_cues)
  return splits
