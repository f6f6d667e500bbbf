"""Datasets in one schema (see `schema.py`), built by name from the config."""

import ml_collections

from jaxshort.data import camelyon17, celeba, cifar10, waterbirds
from jaxshort.data.arrays import arrays_dataset
from jaxshort.data.colored_mnist import colored_mnist
from jaxshort.data.localization_view import localization_view
from jaxshort.data.mnist_patch import mnist_patch
from jaxshort.data.schema import FIELDS, Dataset, Split, group_of, validate
from jaxshort.registry import Registry

DATASETS: Registry = Registry("dataset")
DATASETS.register("colored_mnist")(colored_mnist)
DATASETS.register("arrays")(arrays_dataset)
DATASETS.register("cifar10")(cifar10.cifar10)
DATASETS.register("waterbirds")(waterbirds.waterbirds)
DATASETS.register("celeba")(celeba.celeba)
DATASETS.register("camelyon17")(camelyon17.camelyon17)
DATASETS.register("mnist_patch")(mnist_patch)


def build_dataset(config: ml_collections.ConfigDict, seed: int) -> Dataset:
  """The dataset named by `config.name`, built from the rest of `config`, validated against the schema.

  With `config.pair` set ('synthetic' or 'natural'), the result is that dataset's localization view, with the
  roles clean_train, skewed_train, clean_test, aligned_test and conflict_test (see localization_view.py).
  """
  dataset = DATASETS.get(config.name)(config, seed)
  if config.get("pair", ""):
    dataset = localization_view(dataset, config, seed)
  return validate(dataset)


__all__ = ["DATASETS", "FIELDS", "Dataset", "Split", "build_dataset", "group_of", "validate"]
