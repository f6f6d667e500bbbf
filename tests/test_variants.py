"""The core numerical functions give the same answer with and without jit (chex.variants), against references:
splicing, exact Shapley values, SITAR's shortcut scores and Jacobian penalty, and the evaluation counts."""

import itertools

import chex
import jax
import jax.numpy as jnp
import numpy as np

from jaxshort.localization import shapley, splice as splice_lib
from jaxshort.sitar import exact_penalty, sample_penalty, shortcut_scores
from jaxshort.training import metrics
from tests import test_sitar_penalty as penalty_refs


def brute_force_shapley(values_by_code: np.ndarray, num_blocks: int) -> np.ndarray:
  """Shapley values by averaging marginal contributions over all K! block orders."""
  phi = np.zeros(num_blocks)
  orders = list(itertools.permutations(range(num_blocks)))
  for order in orders:
    code = 0
    for b in order:
      phi[b] += values_by_code[code | (1 << b)] - values_by_code[code]
      code |= 1 << b
  return phi / len(orders)


class VariantsTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_splice_takes_each_block_from_its_model(self):
    clean = {"params": {"a": {"w": jnp.zeros(3)}, "b": {"w": jnp.zeros((2, 2))}, "c": {"w": jnp.zeros(1)}}}
    skewed = jax.tree.map(lambda x: x + 1.0, clean)
    mask = jnp.array([True, False, True])
    hybrid = self.variant(lambda m: splice_lib.splice(clean, skewed, m, ["a", "b", "c"]))(mask)
    chex.assert_trees_all_equal(hybrid, {"params": {"a": {"w": jnp.ones(3)}, "b": {"w": jnp.zeros((2, 2))},
                                                    "c": {"w": jnp.ones(1)}}})

  @chex.variants(with_jit=True, without_jit=True)
  def test_exact_shapley_matches_all_orders_and_adds_up(self):
    values = np.random.default_rng(0).normal(size=2 ** 4)
    phi = self.variant(shapley.ordered_shapley)(jnp.asarray(values, jnp.float32))
    chex.assert_shape(phi, (4,))
    np.testing.assert_allclose(phi, brute_force_shapley(values, 4), atol=1e-5)
    np.testing.assert_allclose(phi.sum(), values[-1] - values[0], atol=1e-5)

  @chex.variants(with_jit=True, without_jit=True)
  def test_shortcut_scores_equal_a_weighted_pearson_reference(self):
    rng = np.random.default_rng(1)
    mu = rng.normal(size=(40, 3)).astype(np.float32)
    labels = rng.integers(0, 2, 40).astype(np.int32)
    mu[:, 0] += 2.0 * labels  # dimension 0 tracks the label
    scores = self.variant(shortcut_scores, static_argnums=2)(jnp.asarray(mu), jnp.asarray(labels), 2)
    counts = np.bincount(labels, minlength=2)
    weights = 1.0 / counts[labels]
    weights /= weights.sum()
    reference = [abs(penalty_refs._numpy_weighted_pearson(mu[:, j], labels.astype(float), weights))  # pylint: disable=protected-access
                 for j in range(3)]
    np.testing.assert_allclose(scores, reference, rtol=1e-4, atol=1e-6)
    assert int(np.argmax(scores)) == 0

  @chex.variants(with_jit=True, without_jit=True)
  def test_penalties_match_the_jacobian_and_hessian_reference(self):
    f, z, labels, scale = penalty_refs._setup()  # pylint: disable=protected-access
    exact, logits = self.variant(lambda z: exact_penalty(f, z, labels, scale, penalty_refs.LAMBDA))(z)
    terms = jax.vmap(lambda zn, yn: penalty_refs._reference_terms(f, zn, yn))(z, labels)  # pylint: disable=protected-access
    np.testing.assert_allclose(exact, jnp.sum(scale**2 * terms, -1), rtol=1e-4, atol=1e-7)
    chex.assert_trees_all_close(logits, f(z), atol=1e-6)
    sampled, _ = self.variant(lambda z: sample_penalty(f, z, labels, scale, penalty_refs.LAMBDA,
                                                       jax.random.key(0)))(z)
    chex.assert_shape(sampled, (z.shape[0],))
    assert bool(jnp.all(jnp.isfinite(sampled)))

  @chex.variants(with_jit=True, without_jit=True)
  def test_count_correct_counts_per_class_and_group(self):
    logits = jnp.array([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0], [0.0, 2.0]])
    batch = {"label": jnp.array([0, 0, 1, 1]), "group": jnp.array([0, 1, 2, 3]),
             "mask": jnp.array([True, True, True, False])}
    counts = self.variant(lambda lg, b: metrics.count_correct(lg, b, 2, 4))(logits, batch)
    summary = metrics.summarize(jax.device_get(counts))
    assert summary["num_examples"] == 3
    np.testing.assert_allclose(summary["accuracy"], 1 / 3)
    np.testing.assert_allclose(summary["worst_group_accuracy"], 0.0)
    np.testing.assert_allclose(summary["balanced_accuracy"], 0.25)  # class 0: 1 of 2, class 1: 0 of 1
