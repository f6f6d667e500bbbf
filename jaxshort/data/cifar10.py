"""CIFAR-10, clean (cue -1): the synthetic class-coded cue is added by the skews module, not here.

Read from one of, in this order for source='auto':
  - tfds `cifar10` prepared as array_record under `data_dir` (read with `as_data_source`, no TensorFlow);
  - the official python tarball `cifar-10-python.tar.gz` (or its extracted `cifar-10-batches-py/`) in
    `manual_dir`, read with pickle.
Splits: train (50,000 minus val), val (a `val_fraction` of train, drawn from the seed), test (10,000).
Ids: the position in the official files, train 0..49,999 and test 50,000..59,999.
"""

import os
import pickle
import tarfile

import ml_collections
import numpy as np

from jaxshort.constraints import boolean, choice, integer, number, text
from jaxshort.data import files, tfds_source
from jaxshort.data.arrays import make_split, take
from jaxshort.data.schema import Dataset
from jaxshort.errors import UserError

TARBALL = "cifar-10-python.tar.gz"
FOLDER = "cifar-10-batches-py"
TARBALL_MD5 = "c58f30108f718f92721af3b95e74349a"  # published on https://www.cs.toronto.edu/~kriz/cifar.html
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCHES = ("test_batch",)
HOW_TO_GET = f"download {TARBALL} from https://www.cs.toronto.edu/~kriz/cifar.html into dataset.manual_dir"
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
NUM_TRAIN = 50_000


def default_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.name = "cifar10"
  config.source = "auto"       # 'auto': tfds if prepared under data_dir, else the tarball in manual_dir; or 'tfds', 'tarball'
  config.data_dir = ""         # tfds data_dir; '' means $TFDS_DATA_DIR or ~/tensorflow_datasets
  config.manual_dir = "~/data/cifar10"  # holds cifar-10-python.tar.gz or the extracted cifar-10-batches-py/
  config.verify_checksum = True  # md5 of the tarball against the published one (about 0.5 s)
  config.val_fraction = 0.1    # of the official train split, drawn from the seed
  config.image_size = 0        # 0 keeps 32x32; else resized once at load time
  config.max_train_examples = 0  # 0: all; else a seeded subset of train (for CPU runs)
  return config


FIELD_RULES = {
    "name": choice("cifar10"), "source": choice("auto", "tfds", "tarball"), "data_dir": text(), "manual_dir": text(),
    "verify_checksum": boolean(), "val_fraction": number(0, 1, low_open=True, high_open=True), "image_size": integer(0),
    "max_train_examples": integer(0),
}


def unpickle_batch(data: bytes, path: str) -> tuple[np.ndarray, np.ndarray]:
  """Images uint8 [N, 32, 32, 3] and labels int32 [N] from the bytes of one official pickle batch."""
  try:
    batch = pickle.loads(data, encoding="bytes")
    images = np.asarray(batch[b"data"], np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    labels = np.asarray(batch[b"labels"], np.int32)
  except (pickle.UnpicklingError, EOFError, KeyError, ValueError, TypeError) as error:
    raise files.file_error(path, f"corrupt CIFAR-10 batch ({type(error).__name__})", HOW_TO_GET,
                           f"md5 {TARBALL_MD5} for {TARBALL}") from None
  if len(images) != len(labels):
    raise files.file_error(path, "corrupt CIFAR-10 batch (images and labels differ in number)", HOW_TO_GET,
                           f"md5 {TARBALL_MD5} for {TARBALL}")
  return images, labels


def read_batches(manual_dir: str, names: tuple[str, ...], verify_checksum: bool) -> tuple[np.ndarray, np.ndarray]:
  """The official batches `names`, concatenated: images uint8 [N, 32, 32, 3], labels int32 [N]. Reads the
  extracted folder where present, else the tarball (checksum verified first)."""
  folder = os.path.join(manual_dir, FOLDER)
  if os.path.isdir(folder):
    blobs = []
    for name in names:
      path = files.require_file(os.path.join(folder, name), HOW_TO_GET)
      with open(path, "rb") as f:
        blobs.append((f.read(), path))
  else:
    tarball = files.require_file(os.path.join(manual_dir, TARBALL), HOW_TO_GET, f"md5 {TARBALL_MD5}")
    if verify_checksum:
      files.verify_md5(tarball, TARBALL_MD5, HOW_TO_GET)
    blobs = _read_from_tarball(tarball, names)
  parts = [unpickle_batch(data, path) for data, path in blobs]
  return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _read_from_tarball(tarball: str, names: tuple[str, ...]) -> list[tuple[bytes, str]]:
  """(bytes, path-for-messages) of the members FOLDER/name of `tarball`, in the order of `names`."""
  corrupt = lambda why: files.file_error(tarball, f"partial or corrupt archive ({why})", HOW_TO_GET,
                                         f"md5 {TARBALL_MD5}")
  try:
    with tarfile.open(tarball, "r:gz") as archive:
      blobs = []
      for name in names:
        member = f"{FOLDER}/{name}"
        try:
          blobs.append((archive.extractfile(member).read(), f"{tarball}:{member}"))
        except KeyError:
          raise corrupt(f"no member {member}") from None
      return blobs
  except (tarfile.TarError, EOFError, OSError) as error:
    raise corrupt(type(error).__name__) from None


def _read_tfds(builder) -> tuple[np.ndarray, ...]:
  """Train and test images uint8 [N, 32, 32, 3] and labels int32 [N] from a prepared tfds `cifar10`."""
  convert = lambda e: {"image": np.asarray(e["image"], np.uint8), "label": np.int32(e["label"])}
  train = tfds_source.read_examples(builder, "train", convert)
  test = tfds_source.read_examples(builder, "test", convert)
  return train["image"], train["label"], test["image"], test["label"]


def load_arrays(config: ml_collections.ConfigDict) -> tuple[tuple[np.ndarray, ...], str]:
  """(train images, train labels, test images, test labels) and the name of the source used."""
  if config.source not in ("auto", "tfds", "tarball"):
    raise UserError(f"dataset.source must be 'auto', 'tfds' or 'tarball', got {config.source!r}")
  if config.source in ("auto", "tfds"):
    builder = tfds_source.prepared_builder("cifar10", config.data_dir or None)
    if builder is not None:
      return _read_tfds(builder), "tfds:cifar10"
    if config.source == "tfds":
      raise tfds_source.not_prepared_error("cifar10", config.data_dir or None,
                                           f"set dataset.source='tarball' and put {TARBALL} in dataset.manual_dir")
  manual_dir = os.path.expanduser(config.manual_dir)
  train = read_batches(manual_dir, TRAIN_BATCHES, config.verify_checksum)
  test = read_batches(manual_dir, TEST_BATCHES, config.verify_checksum)
  return (*train, *test), f"tarball:{manual_dir}"


def cifar10(config: ml_collections.ConfigDict, seed: int) -> Dataset:
  """Builds clean CIFAR-10 from `config` (fields: see `default_config`); deterministic in `seed`."""
  (train_images, train_labels, test_images, test_labels), source = load_arrays(config)
  if config.image_size:
    train_images = files.resize_all(train_images, config.image_size)
    test_images = files.resize_all(test_images, config.image_size)
  everything = make_split(train_images, train_labels)
  train_index, val_index = files.carve(len(train_labels), config.val_fraction, seed, salt=0xC1FA)
  train_index = files.subsample(train_index, config.max_train_examples, seed, salt=0xC1FB)
  test = make_split(test_images, test_labels, ids=len(train_labels) + np.arange(len(test_labels)))
  return Dataset(
      name="cifar10", splits={"train": take(everything, train_index), "val": take(everything, val_index),
                              "test": test},
      num_classes=10, num_cues=1, class_names=CLASS_NAMES, cue_names=("none",),
      roles={"train": "train", "validation": "val", "in_distribution": "test"},
      info={"source": source, "seed": seed, "val_fraction": config.val_fraction,
            "checksum": f"md5 {TARBALL_MD5} ({TARBALL})"})
