"""Datasets in one schema (see `schema.py`), built by name from the config.

Each dataset declares its config fields, with their defaults, in its module's `default_config()`. A dataset
config holds those fields, plus `regime` (below), plus, once it sets `pair`, the localization view's fields
(localization_view.default_config()). `dataset_config` merges them under a config's own values, once, and
refuses a field that the dataset does not declare.
"""

import contextlib
import difflib
import json

import ml_collections

from jaxshort.constraints import choice
from jaxshort.data import arrays, camelyon17, celeba, cifar10, colored_mnist, mnist_patch, waterbirds
from jaxshort.data import localization_view as view
from jaxshort.data.regimes import majority_only_dataset
from jaxshort.data.schema import FIELDS, Dataset, Split, group_of, validate
from jaxshort.errors import UserError
from jaxshort.registry import Registry

DATASETS: Registry = Registry("dataset")
DATASETS.register("colored_mnist")(colored_mnist.colored_mnist)
DATASETS.register("arrays")(arrays.arrays_dataset)
DATASETS.register("cifar10")(cifar10.cifar10)
DATASETS.register("waterbirds")(waterbirds.waterbirds)
DATASETS.register("celeba")(celeba.celeba)
DATASETS.register("camelyon17")(camelyon17.camelyon17)
DATASETS.register("mnist_patch")(mnist_patch.mnist_patch)

# By dataset name, which is also the name of its module.
MODULES = {"colored_mnist": colored_mnist, "arrays": arrays, "cifar10": cifar10, "waterbirds": waterbirds,
           "celeba": celeba, "camelyon17": camelyon17, "mnist_patch": mnist_patch}
DEFAULT_CONFIGS = {name: module.default_config for name, module in MODULES.items()}
# regime: '' keeps the splits as they are; 'majority_only' keeps only the majority groups (label and cue aligned)
# in training and validation and every group in the test splits, as the SITAR paper trains on real data.
REGIMES = ("", "majority_only")


def field_rules(config: ml_collections.ConfigDict) -> dict:
  """{field: constraints.Rule} of every field `declared_fields(config)` holds: the dataset module's FIELD_RULES,
  `regime`'s, and the localization view's where the section sets `pair`."""
  rules = {**MODULES[config.name].FIELD_RULES, "regime": choice(*REGIMES)}
  if "pair" in config and config.name != "mnist_patch":
    rules.update(view.FIELD_RULES)
  return rules


def declared_fields(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The fields, with their defaults, that the dataset named `config.name` declares (see the module docstring)."""
  if "name" not in config:
    raise UserError(f"a dataset section lacks 'name'; known datasets: {', '.join(DATASETS.names())}")
  DATASETS.get(config.name)  # an unknown name is one clear error
  declared = DEFAULT_CONFIGS[config.name]()
  declared.regime = ""
  if "pair" in config and config.name != "mnist_patch":
    declared.update(view.default_config())
  return declared


def dataset_config(config: ml_collections.ConfigDict, source: str = "the config") -> ml_collections.ConfigDict:
  """`config` (a dataset section) over its dataset's declared defaults; a field the dataset does not declare is a
  UserError naming it and `source` (where the section came from)."""
  merged = declared_fields(config)
  for key in config.keys():
    if key not in merged:
      close = difflib.get_close_matches(key, list(merged.keys()), n=1)
      hint = f"did you mean {close[0]!r}?" if close else f"declared: {', '.join(sorted(merged.keys()))}"
      raise UserError(f"unknown config field dataset.{key} in {source}: dataset {config.name!r} does not declare "
                      f"{key!r} (see default_config() in jaxshort/data/{config.name}.py); {hint}")
    merged[key] = config[key]
  return merged


_SHARED_BUILDS: list[dict] = []  # while `shared_builds()` is open: {(config, seed): Dataset}


@contextlib.contextmanager
def shared_builds():
  """Inside it, `build_dataset` builds each (config, seed) once and hands the same Dataset to every later call:
  a run's checks before it starts (experiments.preflight) and the run itself share one build. Datasets are never
  changed in place."""
  _SHARED_BUILDS.append({})
  try:
    yield
  finally:
    _SHARED_BUILDS.pop()


def build_dataset(config: ml_collections.ConfigDict, seed: int) -> Dataset:
  """The dataset named by `config.name`, built from the rest of `config`, validated against the schema.

  `regime='majority_only'` keeps the majority groups in training and validation (regimes.majority_only_dataset).
  With `config.pair` set ('synthetic' or 'natural'), the result is that dataset's localization view, with the
  roles clean_train, skewed_train, clean_test, aligned_test and conflict_test (see localization_view.py).
  """
  config = dataset_config(config)
  key = (json.dumps(config.to_dict(), sort_keys=True, default=str), seed)
  if _SHARED_BUILDS and key in _SHARED_BUILDS[-1]:
    return _SHARED_BUILDS[-1][key]
  if config.regime not in REGIMES:
    raise UserError(f"dataset.regime must be '' or 'majority_only', got {config.regime!r}")
  dataset = DATASETS.get(config.name)(config, seed)
  if config.regime == "majority_only":
    if "pair" in config and config.pair:
      raise UserError("dataset.regime='majority_only' and dataset.pair cannot be combined; set one of them")
    dataset = majority_only_dataset(validate(dataset))
  if "pair" in config and config.pair:
    dataset = view.localization_view(dataset, config, seed)
  dataset = validate(dataset)
  if _SHARED_BUILDS:
    _SHARED_BUILDS[-1][key] = dataset
  return dataset


__all__ = ["DATASETS", "FIELDS", "Dataset", "Split", "build_dataset", "dataset_config", "declared_fields",
           "field_rules", "group_of", "shared_builds", "validate"]
