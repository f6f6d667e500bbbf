"""Reading a tfds dataset that is already prepared (array_record) under a data_dir, with no TensorFlow and no
download: `builder.as_data_source()` gives random access to decoded numpy examples."""

import os
from typing import Any, Callable

import numpy as np

from jaxshort.errors import UserError


def tfds_data_dir(data_dir: str | None) -> str:
  """The tfds data_dir: `data_dir`, else $TFDS_DATA_DIR, else ~/tensorflow_datasets; user-expanded."""
  return os.path.expanduser(data_dir or os.environ.get("TFDS_DATA_DIR", "~/tensorflow_datasets"))


def _builder(name: str, data_dir: str | None):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  return tfds.builder(name, data_dir=tfds_data_dir(data_dir), file_format="array_record")


def is_prepared(name: str, data_dir: str | None) -> bool:
  """Whether tfds `name` is prepared under `data_dir`; looks at the folder first so that nothing is imported or
  fetched when it is absent. (A separate function so that tests can stand mock data in for the files.)"""
  if not os.path.isdir(os.path.join(tfds_data_dir(data_dir), name)):
    return False
  return _builder(name, data_dir).is_prepared()


def prepared_builder(name: str, data_dir: str | None):
  """The tfds builder of `name` under `data_dir` in array_record format, or None where it is not prepared."""
  return _builder(name, data_dir) if is_prepared(name, data_dir) else None


def not_prepared_error(name: str, data_dir: str | None, alternative: str) -> UserError:
  """The message for a tfds dataset that was asked for but is not prepared under `data_dir`."""
  where = tfds_data_dir(data_dir)
  return UserError(
      f"tfds '{name}' (array_record) is not prepared under {where}; prepare it once where TensorFlow and the "
      f"files are available: python -c \"import tensorflow_datasets as tfds; tfds.builder('{name}', "
      f"data_dir='{where}', file_format='array_record').download_and_prepare()\", or {alternative}")


def read_examples(builder, split: str, convert: Callable[[dict], dict[str, Any]],
                  index: np.ndarray | None = None) -> dict[str, np.ndarray]:
  """`convert` applied to the examples `index` (default: all) of `split`, stacked field by field into [N, ...]."""
  source = builder.as_data_source(split=split)
  index = np.arange(len(source)) if index is None else index
  rows = [convert(source[int(i)]) for i in index]
  if not rows:
    raise UserError(f"tfds '{builder.name}' split {split!r} holds no examples")
  return {key: np.stack([row[key] for row in rows]) for key in rows[0]}
