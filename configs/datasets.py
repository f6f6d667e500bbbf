"""The ERM run of configs/erm_cmnist.py on another dataset: `--config configs/datasets.py:NAME`, NAME one of cifar10, waterbirds,
celeba, camelyon17, colored_mnist. The dataset's own fields (where its files are, image size, ...) come from
its module's default_config(); the model becomes the small CNN.

    python -m jaxshort.data.inspect --config configs/datasets.py:waterbirds \
        --config.dataset.manual_dir=~/data/waterbirds --out /tmp/waterbirds
    python launch.py --config configs/datasets.py:cifar10 --config.dataset.max_train_examples=5000

The files each dataset needs and where they go: docs/datasets.md.
"""

import importlib.util
import os

import ml_collections

from jaxshort.data import camelyon17, celeba, cifar10, waterbirds

SOURCES = {"cifar10": cifar10, "waterbirds": waterbirds, "celeba": celeba, "camelyon17": camelyon17}
ARGUMENTS = (*SOURCES, "colored_mnist")  # what get_config takes (file.py:argument)


def _default_config() -> ml_collections.ConfigDict:
  path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "erm_cmnist.py")
  spec = importlib.util.spec_from_file_location("jaxshort_erm_cmnist_config", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def get_config(name: str = "cifar10") -> ml_collections.ConfigDict:
  config = _default_config()
  if name == "colored_mnist":
    return config
  if name not in SOURCES:
    raise ValueError(f"unknown dataset {name!r}; configs/datasets.py takes one of {sorted(SOURCES)} or colored_mnist")
  config.dataset = SOURCES[name].default_config()
  config.model = ml_collections.ConfigDict({"name": "small_cnn", "widths": (32, 64, 128)})
  return config
