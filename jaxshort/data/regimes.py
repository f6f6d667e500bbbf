"""Training and test regimes built from a dataset's natural cue (Waterbirds' place, CelebA's Male, ...).

A class's *aligned* cue is the cue its majority group carries in the training split (landbird -> land, blond ->
not Male); `aligned_cues` reads it from the group counts, so no dataset has to declare it. An example is aligned
when its cue is its class's aligned cue, conflicting otherwise.

- Natural-cue pair (Tsoy & Konstantinov, 2025, section 1): a group-balanced subset D_c and a skewed subset D_s of the
  same size, in which position i holds an example of the same class in both, and the same example wherever the
  two subsets share it; so the same batch indices give matching batches.
- Majority-only training (SITAR): train and validation keep only aligned examples.
- Test sets: T_clean (group-balanced), T_aligned, T_conflict.
Synthetic cues (a patch or tint stamped on the image) live in `skews.py`, not here.
"""

import dataclasses

import numpy as np

from jaxshort.data.arrays import take
from jaxshort.data.schema import Dataset, Split
from jaxshort.errors import UserError


def group_members(split: Split, num_classes: int, num_cues: int) -> list[np.ndarray]:
  """For each group g in [0, num_classes * num_cues), the sorted row indices of `split` in group g."""
  return [np.flatnonzero(split["group"] == g) for g in range(num_classes * num_cues)]


def aligned_cues(split: Split, num_classes: int, num_cues: int) -> np.ndarray:
  """int [num_classes]: each class's most frequent cue in `split` (its majority group)."""
  if (split["cue"] < 0).any():
    raise UserError("a natural-cue regime needs a cue on every example; this split has examples without one")
  counts = np.bincount(split["group"], minlength=num_classes * num_cues).reshape(num_classes, num_cues)
  return counts.argmax(axis=1).astype(np.int32)


def is_aligned(split: Split, aligned: np.ndarray) -> np.ndarray:
  """bool [N]: whether each example's cue is its class's aligned cue."""
  return split["cue"] == np.asarray(aligned)[split["label"]]


def majority_only(split: Split, aligned: np.ndarray) -> Split:
  """The aligned examples of `split` (the groups where label and cue agree), in their order."""
  return take(split, np.flatnonzero(is_aligned(split, aligned)))


def group_balanced(split: Split, num_classes: int, num_cues: int, seed: int, per_group: int = 0) -> Split:
  """`per_group` examples of every group (default: as many as the smallest group holds), drawn from `seed`,
  in the split's order."""
  members = group_members(split, num_classes, num_cues)
  smallest = min(len(m) for m in members)
  per_group = per_group or smallest
  if smallest == 0 or per_group > smallest:
    raise UserError(f"a group-balanced subset of {per_group} per group needs that many in every group; "
                    f"the smallest group holds {smallest}")
  rng = np.random.default_rng([seed, 0xBA1])
  index = np.concatenate([rng.choice(m, per_group, replace=False) for m in members])
  return take(split, np.sort(index))


def cue_counts(per_class: int, num_cues: int, aligned_cue: int, majority_fraction: float) -> np.ndarray:
  """int [num_cues]: how many examples of one class take each cue when a `majority_fraction` of its `per_class`
  examples carry the aligned cue and the rest are spread evenly over the other cues."""
  counts = np.zeros(num_cues, int)
  counts[aligned_cue] = int(round(majority_fraction * per_class))
  others = [c for c in range(num_cues) if c != aligned_cue]
  rest = per_class - counts[aligned_cue]
  for k, cue in enumerate(others):
    counts[cue] = rest // len(others) + (k < rest % len(others))
  return counts


def _largest_per_class(members: list[np.ndarray], num_classes: int, num_cues: int, aligned: np.ndarray,
                       majority_fraction: float) -> int:
  """The largest per-class size, a multiple of num_cues, for which both the balanced and the skewed subset exist."""
  available = np.array([len(m) for m in members]).reshape(num_classes, num_cues)
  per_class = num_cues * int(available.min())
  while per_class > 0:
    skewed = np.stack([cue_counts(per_class, num_cues, aligned[y], majority_fraction) for y in range(num_classes)])
    if (skewed <= available).all():
      return per_class
    per_class -= num_cues
  raise UserError("no natural-cue pair exists: some group is empty, or too small for the majority fraction")


def natural_cue_pair(split: Split, num_classes: int, num_cues: int, aligned: np.ndarray, majority_fraction: float,
                     seed: int, size: int = 0) -> tuple[Split, Split]:
  """(D_c, D_s): a group-balanced and a skewed subset of `split`, each of `size` examples (default: the largest
  possible), in one shared order: position i holds the same class in both, and the same example wherever the
  two share it. In D_s a `majority_fraction` of each class carries its aligned cue."""
  if not 0.0 <= majority_fraction <= 1.0:
    raise UserError(f"majority_fraction must lie in [0, 1], got {majority_fraction}")
  members = group_members(split, num_classes, num_cues)
  if size:
    if size % (num_classes * num_cues):
      raise UserError(f"a natural-cue pair's size must be a multiple of {num_classes * num_cues} "
                      f"(classes x cues) so that D_c is group-balanced, got {size}")
    per_class = size // num_classes
  else:
    per_class = _largest_per_class(members, num_classes, num_cues, aligned, majority_fraction)
  rng = np.random.default_rng([seed, 0xDA1])
  clean, skewed = [], []
  for label in range(num_classes):
    need_clean = np.full(num_cues, per_class // num_cues)
    need_skewed = cue_counts(per_class, num_cues, aligned[label], majority_fraction)
    shared, clean_only, skewed_only = [], [], []
    for cue in range(num_cues):
      group = members[label * num_cues + cue]
      if max(need_clean[cue], need_skewed[cue]) > len(group):
        raise UserError(f"group (label {label}, cue {cue}) holds {len(group)} examples; the pair needs "
                        f"{max(need_clean[cue], need_skewed[cue])}; lower the size or the majority fraction")
      order = rng.permutation(group)
      common = min(need_clean[cue], need_skewed[cue])
      shared.append(order[:common])
      clean_only.append(order[common:need_clean[cue]])
      skewed_only.append(order[common:need_skewed[cue]])
    clean.append(np.concatenate(shared + clean_only))
    skewed.append(np.concatenate(shared + skewed_only))
  position = rng.permutation(num_classes * per_class)
  return take(split, np.concatenate(clean)[position]), take(split, np.concatenate(skewed)[position])


def natural_test_sets(split: Split, num_classes: int, num_cues: int, aligned: np.ndarray, seed: int) -> dict[str, Split]:
  """T_clean (group-balanced subset), T_aligned (all aligned examples), T_conflict (all conflicting ones)."""
  aligned_rows = is_aligned(split, aligned)
  return {"clean": group_balanced(split, num_classes, num_cues, seed),
          "aligned": take(split, np.flatnonzero(aligned_rows)),
          "conflict": take(split, np.flatnonzero(~aligned_rows))}


def majority_only_dataset(dataset: Dataset) -> Dataset:
  """`dataset` with its train and validation splits cut to the aligned examples (SITAR's regime); test splits
  are kept whole. The aligned cues come from the training split and are recorded in `info`."""
  train = dataset.splits[dataset.roles["train"]]
  aligned = aligned_cues(train, dataset.num_classes, dataset.num_cues)
  cut = {dataset.roles[r] for r in ("train", "validation") if r in dataset.roles}
  splits = {name: majority_only(split, aligned) if name in cut else split for name, split in dataset.splits.items()}
  return dataclasses.replace(dataset, splits=splits,
                             info={**dataset.info, "regime": "majority_only", "aligned_cues": aligned.tolist()})


def default_test_split(dataset: Dataset) -> str:
  """The split that test sets are cut from: the out-of-distribution split, else the in-distribution one."""
  return dataset.roles.get("out_of_distribution") or dataset.roles["in_distribution"]


def natural_pair_datasets(dataset: Dataset, majority_fraction: float, seed: int, size: int = 0,
                          test_split: str = "") -> tuple[Dataset, Dataset]:
  """(clean, skewed) copies of `dataset` whose training splits are the natural-cue pair drawn from its training
  split, each also holding test_clean / test_aligned / test_conflict cut from `test_split` (default:
  `default_test_split`)."""
  train = dataset.splits[dataset.roles["train"]]
  aligned = aligned_cues(train, dataset.num_classes, dataset.num_cues)
  clean, skewed = natural_cue_pair(train, dataset.num_classes, dataset.num_cues, aligned, majority_fraction, seed,
                                   size)
  test_split = test_split or default_test_split(dataset)
  tests = natural_test_sets(dataset.splits[test_split], dataset.num_classes, dataset.num_cues, aligned, seed)
  tests = {f"test_{name}": split for name, split in tests.items()}
  info = {**dataset.info, "regime": "natural_cue_pair", "majority_fraction": majority_fraction,
          "aligned_cues": aligned.tolist(), "pair_size": int(len(clean["label"])), "test_source": test_split}
  make = lambda train_split: dataclasses.replace(
      dataset, splits={**dataset.splits, dataset.roles["train"]: train_split, **tests}, info=info)
  return make(clean), make(skewed)
