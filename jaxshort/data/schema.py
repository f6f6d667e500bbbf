"""The one shape in which every dataset reaches the models.

A split is a dict of numpy arrays with the same leading length N:
  image: uint8 [N, H, W, C]
  label: int32 [N]           class index in [0, num_classes)
  cue:   int32 [N]           shortcut attribute in [0, num_cues), or -1 where there is none
  group: int32 [N]           label * num_cues + cue, or -1 where cue is -1
  id:    int32 [N]           stable example id, unique within the dataset
"""

import dataclasses
from typing import Any

import numpy as np

from jaxshort.errors import UserError

FIELDS = ("image", "label", "cue", "group", "id")
Split = dict[str, np.ndarray]


def group_of(label: np.ndarray, cue: np.ndarray, num_cues: int) -> np.ndarray:
  """Group index label * num_cues + cue; -1 where the cue is -1."""
  label = np.asarray(label, np.int32)
  cue = np.asarray(cue, np.int32)
  return np.where(cue >= 0, label * num_cues + cue, -1).astype(np.int32)


@dataclasses.dataclass(frozen=True)
class Dataset:
  """Named splits in the schema above, with what is needed to read them.

  `roles` maps what a split is used for ("train", "validation", "in_distribution", "out_of_distribution") to a
  split name; `info` records provenance (source files, seeds, skew parameters) for results.json.
  """
  name: str
  splits: dict[str, Split]
  num_classes: int
  num_cues: int
  class_names: tuple[str, ...]
  cue_names: tuple[str, ...]
  roles: dict[str, str]
  info: dict[str, Any] = dataclasses.field(default_factory=dict)

  @property
  def num_groups(self) -> int:
    return self.num_classes * self.num_cues

  @property
  def image_shape(self) -> tuple[int, ...]:
    return tuple(self.splits[self.roles["train"]]["image"].shape[1:])

  def group_name(self, group: int) -> str:
    label, cue = divmod(group, self.num_cues)
    return f"{self.class_names[label]}|{self.cue_names[cue]}"

  def group_counts(self, split: str) -> dict[str, int]:
    counts = np.bincount(self.splits[split]["group"][self.splits[split]["group"] >= 0], minlength=self.num_groups)
    return {self.group_name(g): int(c) for g, c in enumerate(counts)}

  def describe(self) -> dict[str, Any]:
    """A JSON-ready summary: sizes and group counts per split, plus `info`."""
    return {
        "name": self.name,
        "num_classes": self.num_classes,
        "num_cues": self.num_cues,
        "image_shape": list(self.image_shape),
        "roles": dict(self.roles),
        "splits": {name: {"size": int(len(split["label"])), "group_counts": self.group_counts(name)}
                   for name, split in self.splits.items()},
        **self.info,
    }


def validate_split(split: Split, name: str, num_classes: int, num_cues: int) -> None:
  """Raises `UserError` naming the first way in which `split` breaks the schema."""
  missing = [f for f in FIELDS if f not in split]
  if missing:
    raise UserError(f"split {name!r} lacks the fields {missing}; every split needs {list(FIELDS)}")
  n = len(split["label"])
  if n == 0:
    raise UserError(f"split {name!r} is empty; check the dataset's files and split settings")
  for field in FIELDS:
    if len(split[field]) != n:
      raise UserError(f"split {name!r}: field {field!r} has {len(split[field])} rows, 'label' has {n}")
  image = split["image"]
  if image.dtype != np.uint8 or image.ndim != 4:
    raise UserError(f"split {name!r}: images must be uint8 [N, H, W, C], got {image.dtype} {list(image.shape)}")
  label = split["label"]
  if label.min() < 0 or label.max() >= num_classes:
    raise UserError(f"split {name!r}: labels must lie in [0, {num_classes}), found {label.min()}..{label.max()}")
  cue = split["cue"]
  if cue.min() < -1 or cue.max() >= num_cues:
    raise UserError(f"split {name!r}: cues must lie in [-1, {num_cues}), found {cue.min()}..{cue.max()}")
  if not np.array_equal(split["group"], group_of(label, cue, num_cues)):
    raise UserError(f"split {name!r}: 'group' must equal label * num_cues + cue")
  if len(np.unique(split["id"])) != n:
    raise UserError(f"split {name!r}: ids are not unique")


def validate(dataset: Dataset) -> Dataset:
  """Checks every split and every role of `dataset`; returns it unchanged."""
  for role, split in dataset.roles.items():
    if split not in dataset.splits:
      raise UserError(f"dataset {dataset.name!r}: role {role!r} names the missing split {split!r}")
  for name, split in dataset.splits.items():
    validate_split(split, name, dataset.num_classes, dataset.num_cues)
  shapes = {name: split["image"].shape[1:] for name, split in dataset.splits.items()}
  if len(set(shapes.values())) > 1:
    raise UserError(f"dataset {dataset.name!r}: splits differ in image shape {shapes}; resize them to one shape")
  return dataset
