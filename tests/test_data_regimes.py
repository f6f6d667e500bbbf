"""Natural-cue regimes: the clean/skewed pair, majority-only splits, and the three test sets."""

import numpy as np
import pytest

from tests import fake_data
from jaxshort.data import build_dataset, regimes, validate, waterbirds
from jaxshort.data.arrays import make_split
from jaxshort.data.schema import Dataset
from jaxshort.errors import UserError


def skewed_split(counts: dict[tuple[int, int], int], num_cues: int = 2, seed: int = 0):
  """A split with `counts[(label, cue)]` examples of each group, shuffled, with tiny random images."""
  labels = np.concatenate([np.full(n, y) for (y, _), n in counts.items()])
  cues = np.concatenate([np.full(n, c) for (_, c), n in counts.items()])
  order = np.random.default_rng(seed).permutation(len(labels))
  images = np.random.default_rng(seed).integers(0, 256, (len(labels), 4, 4, 3), dtype=np.uint8)
  return make_split(images, labels[order], cues[order], num_cues=num_cues)


# Waterbirds-like: landbird mostly on land (cue 0), waterbird mostly on water (cue 1).
COUNTS = {(0, 0): 300, (0, 1): 20, (1, 0): 12, (1, 1): 100}


def test_aligned_cues_come_from_the_majority_groups():
  assert list(regimes.aligned_cues(skewed_split(COUNTS), 2, 2)) == [0, 1]
  blond_like = {(0, 0): 50, (0, 1): 60, (1, 0): 30, (1, 1): 2}  # blond (1) goes with not-Male (0)
  assert list(regimes.aligned_cues(skewed_split(blond_like), 2, 2)) == [1, 0]


def test_natural_pair_has_equal_size_shared_order_and_the_asked_skew():
  split = skewed_split(COUNTS)
  aligned = regimes.aligned_cues(split, 2, 2)
  clean, skewed = regimes.natural_cue_pair(split, 2, 2, aligned, majority_fraction=0.75, seed=0, size=48)
  assert len(clean["label"]) == len(skewed["label"]) == 48
  assert np.array_equal(clean["label"], skewed["label"])  # same class at every position
  assert np.bincount(clean["group"], minlength=4).tolist() == [12, 12, 12, 12]
  assert np.bincount(skewed["group"], minlength=4).tolist() == [18, 6, 6, 18]
  shared = np.isin(clean["id"], skewed["id"])
  assert np.array_equal(clean["id"][shared], skewed["id"][shared])  # shared examples sit at the same positions
  assert shared.sum() == 2 * (12 + 6)
  for part in (clean, skewed):
    assert len(np.unique(part["id"])) == 48


def test_natural_pair_is_deterministic_in_the_seed_and_defaults_to_the_largest_size():
  split = skewed_split(COUNTS)
  aligned = regimes.aligned_cues(split, 2, 2)
  first = regimes.natural_cue_pair(split, 2, 2, aligned, 0.95, seed=4)
  second = regimes.natural_cue_pair(split, 2, 2, aligned, 0.95, seed=4)
  other = regimes.natural_cue_pair(split, 2, 2, aligned, 0.95, seed=5)
  assert all(np.array_equal(a["id"], b["id"]) for a, b in zip(first, second))
  assert not np.array_equal(first[0]["id"], other[0]["id"])
  assert len(first[0]["label"]) == 48  # 4 groups x 12 (the smallest group) for D_c; D_s needs 23 + 1 per class


def test_natural_pair_rejects_impossible_requests():
  split = skewed_split(COUNTS)
  with pytest.raises(UserError, match="multiple of 4"):
    regimes.natural_cue_pair(split, 2, 2, np.array([0, 1]), 0.9, seed=0, size=42)
  with pytest.raises(UserError, match=r"group \(label 0, cue 1\) holds 20 examples; the pair needs 50"):
    regimes.natural_cue_pair(split, 2, 2, np.array([0, 1]), 0.9, seed=0, size=200)


def test_majority_only_keeps_only_agreeing_groups_in_train_and_validation(tmp_path):
  config = waterbirds.default_config()
  config.update(manual_dir=fake_data.waterbirds_folder(str(tmp_path)), image_size=8)
  dataset = regimes.majority_only_dataset(build_dataset(config, seed=0))
  validate(dataset)
  for split in ("train", "val"):
    counts = dataset.group_counts(split)
    assert counts["landbird|water"] == counts["waterbird|land"] == 0
    assert counts["landbird|land"] > 0 and counts["waterbird|water"] > 0
  assert min(dataset.group_counts("test").values()) == 3  # test is kept whole
  assert dataset.info["aligned_cues"] == [0, 1]


def test_test_sets_clean_aligned_conflict():
  split = skewed_split(COUNTS)
  tests = regimes.natural_test_sets(split, 2, 2, np.array([0, 1]), seed=0)
  assert np.bincount(tests["clean"]["group"], minlength=4).tolist() == [12, 12, 12, 12]
  assert set(tests["aligned"]["group"]) == {0, 3} and len(tests["aligned"]["label"]) == 400
  assert set(tests["conflict"]["group"]) == {1, 2} and len(tests["conflict"]["label"]) == 32


def test_natural_pair_datasets_share_everything_but_the_training_split():
  split = skewed_split(COUNTS)
  test = skewed_split({(0, 0): 10, (0, 1): 10, (1, 0): 10, (1, 1): 10}, seed=1)
  dataset = Dataset(name="toy", splits={"train": split, "test": test}, num_classes=2, num_cues=2,
                    class_names=("a", "b"), cue_names=("x", "y"),
                    roles={"train": "train", "out_of_distribution": "test"})
  clean, skewed = regimes.natural_pair_datasets(dataset, 0.9, seed=0, size=40)
  validate(clean), validate(skewed)
  assert set(clean.splits) == {"train", "test", "test_clean", "test_aligned", "test_conflict"}
  assert np.array_equal(clean.splits["train"]["label"], skewed.splits["train"]["label"])
  assert np.array_equal(clean.splits["test_conflict"]["id"], skewed.splits["test_conflict"]["id"])
  assert clean.info["pair_size"] == 40 and clean.info["majority_fraction"] == 0.9


def test_cue_counts_spread_the_minority_over_other_cues():
  assert regimes.cue_counts(20, 5, aligned_cue=2, majority_fraction=0.8).tolist() == [1, 1, 16, 1, 1]
  assert regimes.cue_counts(10, 3, aligned_cue=0, majority_fraction=0.5).tolist() == [5, 3, 2]

