"""Skewed pairs, splicing and Shapley attribution: the pieces the localization experiment is built from."""

import itertools
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxshort.data import skews
from jaxshort.localization import shapley, splice as splice_lib


def toy_split(n=2000, num_classes=10, seed=0):
  rng = np.random.default_rng(seed)
  return {"image": rng.integers(0, 255, (n, 8, 8, 1), dtype=np.uint8),
          "label": rng.integers(0, num_classes, n).astype(np.int32), "cue": np.full(n, -1, np.int32),
          "group": np.full(n, -1, np.int32), "id": np.arange(n, dtype=np.int32)}


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.9, 1.0])
def test_skewed_pair_agreement_is_rho_and_order_is_shared(rho):
  split = toy_split()
  clean, skewed = skews.skewed_pair(split, 10, rho, seed=3, size=3)
  n = len(split["label"])
  agreement = np.mean(skewed["cue"] == skewed["label"])
  assert abs(agreement - rho) <= 4 * math.sqrt(rho * (1 - rho) / n) + 1e-12  # within 4 standard errors
  assert np.all((skewed["cue"] == skewed["label"]) | (skewed["cue"] == -1))
  assert np.all(clean["cue"] == -1) and np.all(clean["group"] == -1)
  for field in ("id", "label"):
    np.testing.assert_array_equal(clean[field], split[field])
    np.testing.assert_array_equal(skewed[field], split[field])
  # Unstamped images are identical in the two splits; stamped ones differ only inside the patch.
  same = skewed["cue"] == -1
  np.testing.assert_array_equal(clean["image"][same], skewed["image"][same])
  np.testing.assert_array_equal(clean["image"][:, 3:], skewed["image"][:, 3:])


def test_clean_split_carries_no_cue_pixels():
  split = toy_split(n=50)
  clean, _ = skews.skewed_pair(split, 10, 1.0, seed=0)
  np.testing.assert_array_equal(clean["image"], np.repeat(split["image"], 3, -1))


def test_patch_has_the_class_colour_and_tint_blends():
  split = toy_split(n=20)
  sets = skews.cue_test_sets(split, 10, seed=1, size=2, position="bottom_right")
  aligned, conflict = sets["test_aligned"], sets["test_conflict"]
  colors = skews.cue_colors(10)
  np.testing.assert_array_equal(aligned["image"][:, -1, -1], colors[aligned["label"]])
  np.testing.assert_array_equal(conflict["image"][:, -2, -2], colors[conflict["cue"]])
  assert np.all(conflict["cue"] != conflict["label"])
  np.testing.assert_array_equal(conflict["cue"], skews.cue_test_sets(split, 10, seed=1)["test_conflict"]["cue"])
  tinted = skews.stamp_cue(split["image"], split["label"], 10, kind="tint", tint_strength=1.0)
  np.testing.assert_array_equal(tinted[:, 4, 4], colors[split["label"]])


def variables_pair(seed=0):
  keys = jax.random.split(jax.random.key(seed), 4)
  def make(k):
    a, b, c = jax.random.split(k, 3)
    return {"params": {"conv1": {"kernel": jax.random.normal(a, (3, 3, 2))}, "conv2": {"kernel": jax.random.normal(b, (4,))},
                       "head": {"bias": jax.random.normal(c, (5,))}},
            "batch_stats": {"conv1": {"mean": jax.random.normal(c, (2,))}}}
  return make(keys[0]), make(keys[1]), ("conv1", "conv2", "head")


def test_splice_takes_each_block_from_the_chosen_model():
  clean, skewed, blocks = variables_pair()
  hybrid = splice_lib.splice(clean, skewed, jnp.array([True, False, True]), blocks)
  chex.assert_trees_all_equal(hybrid["params"]["conv1"], skewed["params"]["conv1"])
  chex.assert_trees_all_equal(hybrid["batch_stats"]["conv1"], skewed["batch_stats"]["conv1"])
  chex.assert_trees_all_equal(hybrid["params"]["conv2"], clean["params"]["conv2"])
  chex.assert_trees_all_equal(hybrid["params"]["head"], skewed["params"]["head"])
  chex.assert_trees_all_equal(splice_lib.splice(clean, skewed, jnp.zeros(3), blocks), clean)
  chex.assert_trees_all_equal(splice_lib.splice(clean, skewed, jnp.ones(3), blocks), skewed)


def test_splice_under_vmap_and_jit_equals_one_mask_at_a_time():
  clean, skewed, blocks = variables_pair()
  masks = splice_lib.all_masks(3)
  batched = jax.jit(jax.vmap(lambda m: splice_lib.splice(clean, skewed, m, blocks)))(masks)
  for i, mask in enumerate(masks):
    one = splice_lib.splice(clean, skewed, mask, blocks)
    chex.assert_trees_all_equal(jax.tree.map(lambda x, i=i: x[i], batched), one)


def test_masks_codes_and_permutation_masks():
  masks = splice_lib.all_masks(4)
  chex.assert_shape(masks, (16, 4))
  np.testing.assert_array_equal(splice_lib.mask_codes(masks), np.arange(16))
  permutations, pmasks = splice_lib.permutation_masks(14, 5, seed=0)
  chex.assert_shape(permutations, (5, 14))
  codes = set(splice_lib.mask_codes(pmasks).tolist())
  assert len(codes) == len(pmasks) and 0 in codes and 2 ** 14 - 1 in codes


def brute_force_shapley(value, num_blocks):
  """Shapley values by averaging marginal contributions over all K! orders."""
  phi = np.zeros(num_blocks)
  orders = list(itertools.permutations(range(num_blocks)))
  for order in orders:
    members = set()
    for b in order:
      phi[b] += value(members | {b}) - value(members)
      members.add(b)
  return phi / len(orders)


def toy_value(members):
  weights = np.array([0.3, -0.1, 0.25, 0.05, 0.2])
  s = sorted(members)
  return float(weights[s].sum() + 0.2 * (0 in members and 3 in members) - 0.15 * (len(members) >= 4))


def test_exact_shapley_matches_brute_force_and_is_efficient():
  masks = splice_lib.all_masks(5)
  values = np.array([toy_value(set(np.flatnonzero(m))) for m in masks])
  phi = shapley.shapley_values(masks[::-1], values[::-1])  # row order must not matter
  np.testing.assert_allclose(phi, brute_force_shapley(toy_value, 5), atol=1e-12)
  assert abs(phi.sum() - (values[-1] - values[0])) < 1e-6


def test_permutation_shapley_is_efficient_and_close():
  permutations, masks = splice_lib.permutation_masks(5, 400, seed=1)
  values = np.array([toy_value(set(np.flatnonzero(m))) for m in masks])
  phi = shapley.shapley_values(masks, values, permutations)
  assert abs(phi.sum() - (toy_value(set(range(5))) - toy_value(set()))) < 1e-6
  np.testing.assert_allclose(phi, brute_force_shapley(toy_value, 5), atol=0.03)


def test_shortcut_scores_signs_and_totals():
  masks = splice_lib.all_masks(3)
  rng = np.random.default_rng(0)
  clean, aligned, conflict = rng.random((3, 8))
  scores = shapley.shortcut_scores(masks, clean, aligned, conflict)
  assert abs(sum(scores["core_forgetting"]) - (clean[0] - clean[-1])) < 1e-6
  g = aligned - conflict
  assert abs(sum(scores["spurious_encoding"]) - (g[-1] - g[0])) < 1e-6
  np.testing.assert_allclose(scores["knock_in"]["core_forgetting"], -(clean[[1, 2, 4]] - clean[0]))
  np.testing.assert_allclose(scores["knock_out"]["spurious_encoding"], g[-1] - g[[6, 5, 3]])
