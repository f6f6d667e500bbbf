"""A base dataset (CIFAR-10, Waterbirds, CelebA, ...) seen as a localization dataset (Tsoy &
Konstantinov, 2025, section 1: the counterfactual pair; docs/localization.md).

The dataset config names the base dataset and adds a `pair` setting; `build_dataset` builds the base through the
registry and hands it here when `pair` is set:
  pair='synthetic': the training split becomes (train_clean, train_skewed) with a class-coded cue stamped on a
      fraction `rho` of the skewed images, and the test split the three stamped test sets (skews.cue_skew_dataset;
      cue settings cue_kind, cue_size, cue_position, tint_strength). Any base; the base's own cue is replaced.
  pair='natural': the training split becomes a group-balanced subset D_c and a same-size subset D_s in which a
      `majority_fraction` of each class carries its majority cue (regimes.natural_pair_datasets; `pair_size`
      examples, 0 for the largest possible), and the test split T_clean (group-balanced), T_aligned and T_conflict.
      Bases with a natural cue on every example (Waterbirds, CelebA).
The test sets are cut from the base's out-of-distribution split, else its in-distribution one
(regimes.default_test_split). The view holds only the five splits, with the roles of skews.LOCALIZATION_ROLES;
images keep the base's size (set it with the base's own `image_size`).
"""

import dataclasses

import ml_collections

from jaxshort.constraints import PROBABILITY, choice, integer
from jaxshort.data import regimes, skews
from jaxshort.data.schema import Dataset
from jaxshort.errors import UserError

PAIRS = ("synthetic", "natural")
TEST_SETS = ("test_clean", "test_aligned", "test_conflict")


def default_config() -> ml_collections.ConfigDict:
  """The fields a dataset config declares once it sets `pair` (merged over the base dataset's own)."""
  config = ml_collections.ConfigDict()
  config.pair = ""                 # 'synthetic' or 'natural'; '' for the base dataset as it is
  config.rho = 0.95                # synthetic: fraction of skewed training images that carry their label's cue
  config.update(skews.cue_defaults())
  config.majority_fraction = 0.95  # natural: share of each class in D_s that carries its majority cue
  config.pair_size = 0             # natural: examples in D_c and D_s; 0 for the largest pair the groups allow
  return config


FIELD_RULES = {
    "pair": choice("", *PAIRS), "rho": PROBABILITY, **skews.CUE_RULES, "majority_fraction": PROBABILITY,
    "pair_size": integer(0),
}


def synthetic_view(base: Dataset, rho: float, seed: int, cue_kwargs: dict) -> Dataset:
  """`base` with a stamped class-coded cue: images uint8 [N, H, W, 3]; num_cues = num_classes."""
  train_split, test_split = base.roles["train"], regimes.default_test_split(base)
  return skews.cue_skew_dataset(
      base.name, base.splits[train_split], base.splits[test_split], base.num_classes, base.class_names, rho, seed,
      cue_kwargs, info={**base.info, "pair": "synthetic", "train_source": train_split, "test_source": test_split})


def natural_view(base: Dataset, majority_fraction: float, seed: int, size: int = 0) -> Dataset:
  """`base` as a natural-cue pair: D_c and D_s of equal size in one shared order, and the three test sets."""
  clean, skewed = regimes.natural_pair_datasets(base, majority_fraction, seed, size)
  train_split = base.roles["train"]
  splits = {"train_clean": clean.splits[train_split], "train_skewed": skewed.splits[train_split],
            **{name: clean.splits[name] for name in TEST_SETS}}
  return dataclasses.replace(base, splits=splits, roles=dict(skews.LOCALIZATION_ROLES),
                             info={**clean.info, "pair": "natural", "train_source": train_split})


def localization_view(base: Dataset, config: ml_collections.ConfigDict, seed: int) -> Dataset:
  """The localization dataset of `config.pair` built from `base` (fields: see the module docstring)."""
  pair = config.pair
  if pair not in PAIRS:
    raise UserError(f"dataset.pair must be one of {PAIRS} (or '' for the base dataset as it is), got {pair!r}")
  if "clean_train" in base.roles:
    raise UserError(f"dataset {base.name!r} is already a localization dataset; leave dataset.pair empty")
  if pair == "synthetic":
    return synthetic_view(base, config.rho, seed, skews.cue_kwargs_from(config))
  if base.num_cues < 2:
    raise UserError(f"dataset.pair='natural' needs a dataset with a natural cue; {base.name!r} has none "
                    f"(use pair='synthetic')")
  return natural_view(base, config.majority_fraction, seed, config.pair_size)
