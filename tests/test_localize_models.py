"""experiments.localize.localize_models on a Flax model built outside jaxshort's registry: every hybrid spliced
and evaluated by hand, the Shapley values by their formula, the block order found by tracing."""

import itertools
import math

import chex
import flax.linen as nn
import jax
import numpy as np
import pytest

from jaxshort.errors import UserError
from jaxshort.experiments.localize import localize_models

CALL_ORDER = ("zeta", "mu", "alpha")  # neither alphabetical nor the order of any dict


class ThreeBlocks(nn.Module):
  """A user's model: three top-level submodules, called in CALL_ORDER, and glue between them."""

  @nn.compact
  def __call__(self, images, train=False):
    del train
    x = images.reshape(images.shape[0], -1)
    x = nn.tanh(nn.Dense(12, name="zeta")(x))
    x = nn.tanh(nn.Dense(12, name="mu")(x)) + 0.5 * x
    return nn.Dense(3, name="alpha")(x)


def accuracy(model, variables, images, labels):
  return float(np.mean(np.argmax(np.asarray(model.apply(variables, images, train=False)), -1) == labels))


def shapley(value, players):
  """phi_b = sum over S not holding b of |S|! (K - |S| - 1)! / K! (v(S + b) - v(S)), by the formula."""
  k = len(players)
  phi = {}
  for b in players:
    others = [p for p in players if p != b]
    phi[b] = sum(math.factorial(len(s)) * math.factorial(k - len(s) - 1) / math.factorial(k)
                 * (value(frozenset(s) | {b}) - value(frozenset(s)))
                 for r in range(k) for s in itertools.combinations(others, r))
  return phi


@pytest.fixture(scope="module")
def pair_and_sets():
  model = ThreeBlocks()
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (3, 90, 4, 4, 1)).astype(np.uint8)
  labels = rng.integers(0, 3, (3, 90))
  preprocess = lambda x: x / 127.5 - 1.0  # pylint: disable=unnecessary-lambda-assignment
  clean = model.init(jax.random.key(1), preprocess(images[0, :1]))
  skewed = jax.tree.map(lambda c, s: c + 0.8 * s, clean, model.init(jax.random.key(2), preprocess(images[0, :1])))
  # keys in alphabetical order, as a checkpoint or a dict from elsewhere may hold them: the order is traced
  clean, skewed = ({"params": dict(sorted(v["params"].items()))} for v in (clean, skewed))
  sets = [(images[i], labels[i]) for i in range(3)]
  return model, clean, skewed, sets, preprocess


def test_hybrids_shapley_and_block_order_by_hand(pair_and_sets, tmp_path):
  model, clean, skewed, sets, preprocess = pair_and_sets
  result = localize_models(model, clean, skewed, *sets, num_classes=3, preprocess=preprocess,
                           out_dir=str(tmp_path / "figures"), chunk_size=32)
  assert tuple(result["blocks"]) == CALL_ORDER
  assert all(result["checks"].values()), result["checks"]

  def hybrid_accuracy(split, chosen):
    params = {b: (skewed if b in chosen else clean)["params"][b] for b in CALL_ORDER}
    images, labels = sets[split]
    return accuracy(model, {"params": params}, preprocess(images), labels)

  # every row of the table is the hybrid spliced by hand
  for row, mask in enumerate(result["table"]["masks"]):
    chosen = {b for b, m in zip(result["blocks"], mask) if m}
    for split, name in enumerate(("clean", "aligned", "conflict")):
      np.testing.assert_allclose(result["table"]["sets"][name]["accuracy"][row], hybrid_accuracy(split, chosen),
                                 atol=1e-12)
  core = shapley(lambda s: -hybrid_accuracy(0, s), CALL_ORDER)
  spurious = shapley(lambda s: hybrid_accuracy(1, s) - hybrid_accuracy(2, s), CALL_ORDER)
  chex.assert_trees_all_close(result["scores"]["core_forgetting"], [core[b] for b in result["blocks"]], atol=1e-9)
  chex.assert_trees_all_close(result["scores"]["spurious_encoding"], [spurious[b] for b in result["blocks"]],
                              atol=1e-9)
  for key in ("spurious_encoding", "core_forgetting"):  # the pair differs: not a 0 == 0 test
    assert any(abs(v) > 0.01 for v in result["scores"][key]), key
  assert result["accuracy"]["skewed"]["clean"] == hybrid_accuracy(0, set(CALL_ORDER))
  assert [p.endswith(".png") for p in result["figures"]] == [True, True]


def test_wrong_blocks_and_a_prefix_tree_over_a_skip_connection_are_refused(pair_and_sets):
  model, clean, skewed, sets, preprocess = pair_and_sets
  for blocks in (("zeta", "mu"), ("zeta", "mu", "alpha", "mu"), ("zeta", "mu", "alpha", "beta")):
    with pytest.raises(UserError, match="blocks"):
      localize_models(model, clean, skewed, *sets, num_classes=3, preprocess=preprocess, blocks=blocks)
  # ThreeBlocks adds zeta's output after mu: not a chain, so the prefix tree's hybrids are not the models
  with pytest.raises(UserError, match="does not end at the two models"):
    localize_models(model, clean, skewed, *sets, num_classes=3, preprocess=preprocess, method="prefix_tree")
