"""Each real-data source, built offline from tiny files in the official on-disk format (see fake_data.py) or from
tfds mock data: schema, split sizes, group counts, and one clear message for a missing or corrupt file."""

import importlib
import os

import ml_collections
import numpy as np
import pytest
import tensorflow_datasets as tfds

from tests import fake_data
from jaxshort.data import build_dataset, camelyon17, celeba, cifar10, tfds_source, waterbirds
from jaxshort.errors import UserError

colored_mnist = importlib.import_module("jaxshort.data.colored_mnist")  # the package exports the builder by this name


def config_of(module, **fields) -> ml_collections.ConfigDict:
  config = module.default_config()
  config.update(fields)
  return config


@pytest.fixture
def mock_tfds(monkeypatch):
  """tfds mock examples with the real shapes, standing in for prepared datasets."""
  monkeypatch.setattr(tfds_source, "is_prepared", lambda name, data_dir: True)
  with tfds.testing.mock_data(num_examples=12, policy=tfds.testing.MockPolicy.USE_CODE):
    yield


# CIFAR-10

def test_cifar10_from_python_tarball(tmp_path):
  fake_data.cifar_tarball(str(tmp_path), per_batch=6)
  config = config_of(cifar10, manual_dir=str(tmp_path), source="tarball", verify_checksum=False, val_fraction=0.2)
  dataset = build_dataset(config, seed=0)
  sizes = {name: len(split["label"]) for name, split in dataset.splits.items()}
  assert sizes == {"train": 24, "val": 6, "test": 6}
  assert dataset.image_shape == (32, 32, 3)
  assert (dataset.splits["train"]["cue"] == -1).all() and (dataset.splits["train"]["group"] == -1).all()
  assert set(dataset.splits["test"]["id"]) == set(range(30, 36))
  again = build_dataset(config, seed=0)
  assert np.array_equal(again.splits["val"]["id"], dataset.splits["val"]["id"])
  assert not np.array_equal(build_dataset(config, seed=1).splits["val"]["id"], dataset.splits["val"]["id"])


def test_cifar10_reads_the_pickle_layout_channels_last(tmp_path):
  fake_data.cifar_tarball(str(tmp_path), per_batch=2)
  images, labels = cifar10.read_batches(str(tmp_path), ("data_batch_1",), verify_checksum=False)
  import pickle, tarfile  # pylint: disable=import-outside-toplevel,multiple-imports
  with tarfile.open(os.path.join(tmp_path, cifar10.TARBALL)) as archive:
    raw = pickle.loads(archive.extractfile("cifar-10-batches-py/data_batch_1").read(), encoding="bytes")
  assert images.shape == (2, 32, 32, 3)
  assert images[1, 3, 5, 2] == raw[b"data"][1, 2 * 1024 + 3 * 32 + 5]  # channel 2, row 3, column 5
  assert list(labels) == raw[b"labels"]


def test_cifar10_resizes_at_load_time(tmp_path):
  fake_data.cifar_tarball(str(tmp_path), per_batch=4)
  config = config_of(cifar10, manual_dir=str(tmp_path), verify_checksum=False, image_size=16, source="tarball")
  assert build_dataset(config, seed=0).image_shape == (16, 16, 3)


def test_cifar10_missing_tarball_names_file_place_source_and_checksum(tmp_path):
  config = config_of(cifar10, manual_dir=str(tmp_path), source="tarball")
  with pytest.raises(UserError) as error:
    build_dataset(config, seed=0)
  message = str(error.value)
  assert "cifar-10-python.tar.gz" in message and str(tmp_path) in message
  assert "cs.toronto.edu" in message and cifar10.TARBALL_MD5 in message
  assert "\n" not in message


def test_cifar10_checksum_mismatch_and_truncated_tarball(tmp_path):
  path = fake_data.cifar_tarball(str(tmp_path))
  with pytest.raises(UserError, match="partial or corrupt.*md5 c58f3"):
    build_dataset(config_of(cifar10, manual_dir=str(tmp_path), source="tarball"), seed=0)
  with open(path, "rb") as f:
    data = f.read()
  with open(path, "wb") as f:
    f.write(data[:len(data) // 2])
  with pytest.raises(UserError, match="partial or corrupt archive"):
    build_dataset(config_of(cifar10, manual_dir=str(tmp_path), source="tarball", verify_checksum=False), seed=0)


def test_cifar10_tfds_not_prepared_fails_fast(tmp_path):
  config = config_of(cifar10, source="tfds", data_dir=str(tmp_path))
  with pytest.raises(UserError, match="not prepared under"):
    build_dataset(config, seed=0)


def test_cifar10_from_prepared_tfds(mock_tfds):  # pylint: disable=unused-argument
  dataset = build_dataset(config_of(cifar10, source="tfds", val_fraction=0.25), seed=0)
  assert {name: len(s["label"]) for name, s in dataset.splits.items()} == {"train": 9, "val": 3, "test": 12}
  assert dataset.info["source"] == "tfds:cifar10"


# MNIST through tfds (Colored MNIST keeps working)

def test_colored_mnist_from_prepared_tfds_mnist(mock_tfds):  # pylint: disable=unused-argument
  config = ml_collections.ConfigDict({"name": "colored_mnist", "source": "tfds", "data_dir": "", "image_size": 28,
                                      "label_flip": 0.25, "train_color_flip": 0.1, "test_color_flip": 0.9,
                                      "split_fractions": (0.6, 0.1, 0.1, 0.2)})
  dataset = build_dataset(config, seed=0)
  assert dataset.info["source"] == "tfds:mnist"
  assert sum(len(s["label"]) for s in dataset.splits.values()) == 24
  assert dataset.image_shape == (28, 28, 3)


def test_colored_mnist_tfds_not_prepared_fails_fast(tmp_path):
  with pytest.raises(UserError, match="'mnist'.*not prepared"):
    colored_mnist.load_mnist_digits("tfds", str(tmp_path))


# Waterbirds

def test_waterbirds_splits_and_group_counts(tmp_path):
  config = config_of(waterbirds, manual_dir=fake_data.waterbirds_folder(str(tmp_path)), image_size=16)
  dataset = build_dataset(config, seed=0)
  assert dataset.image_shape == (16, 16, 3)
  for split, code in (("train", 0), ("val", 1), ("test", 2)):
    expected = {dataset.group_name(2 * y + place): n for (y, place), n in fake_data.WATERBIRDS_GROUPS[code].items()}
    assert dataset.group_counts(split) == expected
  assert dataset.group_counts("train")["waterbird|water"] == 5


def test_waterbirds_max_per_split_is_a_seeded_subset(tmp_path):
  config = config_of(waterbirds, manual_dir=fake_data.waterbirds_folder(str(tmp_path)), image_size=8, max_per_split=5)
  first, second = build_dataset(config, seed=3), build_dataset(config, seed=3)
  assert [len(s["label"]) for s in first.splits.values()] == [5, 5, 5]
  assert np.array_equal(first.splits["train"]["id"], second.splits["train"]["id"])


def test_waterbirds_missing_folder_and_missing_image(tmp_path):
  with pytest.raises(UserError, match="missing dataset file: waterbird_complete95_forest2water2.*none is published"):
    build_dataset(config_of(waterbirds, manual_dir=str(tmp_path)), seed=0)
  root = fake_data.waterbirds_folder(str(tmp_path))
  os.remove(os.path.join(root, waterbirds.FOLDER, "001.Some_bird", "Some_Bird_0001.jpg"))
  with pytest.raises(UserError, match="missing dataset file: Some_Bird_0001.jpg"):
    build_dataset(config_of(waterbirds, manual_dir=root, image_size=8), seed=0)


def test_waterbirds_corrupt_image_and_table(tmp_path):
  root = fake_data.waterbirds_folder(str(tmp_path))
  with open(os.path.join(root, waterbirds.FOLDER, "002.Some_bird", "Some_Bird_0002.jpg"), "wb") as f:
    f.write(b"not a jpeg")
  with pytest.raises(UserError, match="unreadable image.*Some_Bird_0002.jpg"):
    build_dataset(config_of(waterbirds, manual_dir=root, image_size=8), seed=0)
  with open(os.path.join(root, waterbirds.FOLDER, "metadata.csv"), "w") as f:
    f.write("img_id,img_filename,y\n1,a.jpg,0\n")
  with pytest.raises(UserError, match=r"partial or corrupt table \(lacks the columns .*metadata.csv"):
    build_dataset(config_of(waterbirds, manual_dir=root), seed=0)


# CelebA

@pytest.mark.parametrize("task,target,cue", [("blond_male", "Blond_Hair", "Male"),
                                             ("attractive_smiling", "Attractive", "Smiling")])
def test_celeba_tasks_from_official_files(tmp_path, task, target, cue):
  root = fake_data.celeba_folder(str(tmp_path))
  config = config_of(celeba, manual_dir=root, source="files", verify_checksum=False, image_size=12, task=task)
  dataset = build_dataset(config, seed=0)
  assert dataset.image_shape == (12, 12, 3)
  assert {n: len(s["label"]) for n, s in dataset.splits.items()} == {"train": 12, "val": 6, "test": 6}
  with open(os.path.join(root, "list_attr_celeba.txt")) as f:
    lines = f.read().splitlines()
  names = lines[1].split()
  rows = {int(line.split()[0][:6]): line.split()[1:] for line in lines[2:]}
  train = dataset.splits["train"]
  assert all(train["label"][i] == (rows[train["id"][i]][names.index(target)] == "1") for i in range(12))
  assert all(train["cue"][i] == (rows[train["id"][i]][names.index(cue)] == "1") for i in range(12))
  assert sum(dataset.group_counts("train").values()) == 12


def test_celeba_checksums_and_unknown_attribute(tmp_path):
  root = fake_data.celeba_folder(str(tmp_path), num_images=8)
  with pytest.raises(UserError, match="list_attr_celeba.txt.*md5 75e246fa"):
    build_dataset(config_of(celeba, manual_dir=root, source="files"), seed=0)
  config = config_of(celeba, manual_dir=root, source="files", verify_checksum=False, task="custom", target="Bald",
                     cue="Male")
  with pytest.raises(UserError, match="no attribute 'Bald'"):
    build_dataset(config, seed=0)


def test_celeba_missing_and_partial_files(tmp_path):
  with pytest.raises(UserError, match="missing dataset file: list_attr_celeba.txt.*mmlab"):
    build_dataset(config_of(celeba, manual_dir=str(tmp_path), source="files"), seed=0)
  root = fake_data.celeba_folder(str(tmp_path), num_images=8)
  path = os.path.join(root, "list_attr_celeba.txt")
  with open(path) as f:
    lines = f.read().splitlines()
  with open(path, "w") as f:
    f.write("\n".join(lines[:-2]) + "\n")
  with pytest.raises(UserError, match="partial or corrupt file.*expected 8 rows"):
    build_dataset(config_of(celeba, manual_dir=root, source="files", verify_checksum=False), seed=0)


def test_celeba_from_prepared_tfds(mock_tfds):  # pylint: disable=unused-argument
  dataset = build_dataset(config_of(celeba, source="tfds", image_size=16, task="attractive_smiling"), seed=0)
  assert dataset.info["source"] == "tfds:celeb_a" and dataset.info["target"] == "Attractive"
  assert dataset.image_shape == (16, 16, 3)
  ids = np.concatenate([s["id"] for s in dataset.splits.values()])
  assert len(ids) == 36 and len(np.unique(ids)) == 36


# Camelyon17-WILDS

def test_camelyon17_wilds_splits(tmp_path):
  dataset = build_dataset(config_of(camelyon17, manual_dir=fake_data.camelyon_folder(str(tmp_path))), seed=0)
  assert dataset.image_shape == (96, 96, 3)
  centers = {name: set(np.unique(s["cue"])) for name, s in dataset.splits.items()}
  assert centers == {"train": {0, 3, 4}, "id_val": {0, 3, 4}, "val": {1}, "test": {2}}
  assert {n: len(s["label"]) for n, s in dataset.splits.items()} == {"train": 9, "id_val": 3, "val": 4, "test": 4}
  assert dataset.group_counts("test") == {dataset.group_name(g): n for g, n in
                                          enumerate([0, 0, 2, 0, 0, 0, 0, 2, 0, 0])}


def test_camelyon17_missing_patch(tmp_path):
  root = fake_data.camelyon_folder(str(tmp_path), per_center=2)
  os.remove(os.path.join(root, "camelyon17_v1.0", "patches", "patient_004_node_0",
                         "patch_patient_004_node_0_x_0_y_1.png"))
  with pytest.raises(UserError, match="missing dataset file: patch_patient_004_node_0_x_0_y_1.png.*WILDS"):
    build_dataset(config_of(camelyon17, manual_dir=root), seed=0)


def test_every_registered_source_has_a_default_config():
  for module in (cifar10, waterbirds, celeba, camelyon17):
    config = module.default_config()
    assert config.name in ("cifar10", "waterbirds", "celeba", "camelyon17")
