"""Each baseline's objective against numbers worked out by hand from its own paper's definition."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxshort.methods.common import BestByValidation
from jaxshort.methods.lff import ema_update, initial_state, lff_objective, relative_difficulty
from jaxshort.methods.classifier import (as_dense_head, best_upweight, dfr_head, error_set, group_balanced_index, group_dro_objective,
                                         group_dro_weights, group_losses, jtt_weights, l1_logistic_regression,
                                         linear_predictions, worst_group_accuracy)
from jaxshort.models import init_variables
from jaxshort.models.simple import MLP, SmallCNN
from jaxshort.training.state import create_train_state
from jaxshort.training.steps import classification_loss, make_train_step


def test_group_losses_average_within_groups_and_zero_absent_ones():
  losses = jnp.array([1.0, 3.0, 2.0, 4.0])
  np.testing.assert_allclose(group_losses(losses, jnp.array([0, 0, 2, -1]), 4), [2.0, 0.0, 2.0, 0.0])


def test_group_dro_weights_follow_three_hand_computed_steps():
  """q <- q * exp(eta * L_g), renormalized (Sagawa et al., 2020, Algorithm 1), eta = 0.5, 4 groups."""
  q = jnp.full(4, 0.25)
  steps = [jnp.array([1.0, 2.0, 0.0, 0.0]), jnp.array([0.0, 2.0, 2.0, 0.0]), jnp.array([1.0, 0.0, 0.0, 4.0])]
  # By hand: the unnormalized q after step k is 0.25 * exp(0.5 * sum of the losses so far), i.e. exp of
  # 0.5 * [1, 2, 0, 0], then [1, 4, 2, 0], then [2, 4, 2, 4].
  exponents = [np.array([0.5, 1.0, 0.0, 0.0]), np.array([0.5, 2.0, 1.0, 0.0]), np.array([1.0, 2.0, 1.0, 2.0])]
  expected_first = np.array([1.6487213, 2.7182818, 1.0, 1.0]) / 6.3670031
  for losses, exponent in zip(steps, exponents):
    q = group_dro_weights(q, losses, 0.5)
    np.testing.assert_allclose(q, np.exp(exponent) / np.exp(exponent).sum(), rtol=1e-6)
    if exponent is exponents[0]:
      np.testing.assert_allclose(q, expected_first, rtol=1e-6)
  np.testing.assert_allclose(q, [0.13447071, 0.36552929, 0.13447071, 0.36552929], rtol=1e-6)  # 1 / (2 + 2e)


def test_group_dro_step_carries_q_and_weights_the_loss_with_it():
  """Through the one training step: q lives in the method state across steps; the loss is sum_g q_g L_g."""
  model = MLP(num_classes=2, widths=(4,))
  variables = init_variables(model, jax.random.key(0), (4, 4, 1))
  state = create_train_state(model, variables, optax.sgd(0.0), method_state={"q": jnp.full(4, 0.25)})
  rng = np.random.default_rng(0)
  batch = {"image": rng.integers(0, 256, (8, 4, 4, 1), dtype=np.uint8), "label": np.array([0, 1] * 4, np.int32),
           "group": np.array([0, 1, 2, 3, 0, 1, 0, 0], np.int32)}
  step = make_train_step(group_dro_objective(0.3, 4))
  logits = model.apply(variables, (batch["image"].astype(np.float32) * 2 / 255 - 1), train=False)
  per_example = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"])
  group_loss = np.array([per_example[batch["group"] == g].mean() for g in range(4)])
  q = np.full(4, 0.25)
  for _ in range(3):  # learning rate 0: the same group losses at every step
    state, metrics = step(state, batch, jax.random.key(1))
    q = q * np.exp(0.3 * group_loss)
    q /= q.sum()
    np.testing.assert_allclose(state.method_state["q"], q, rtol=1e-5)
    assert float(metrics["loss"]) == pytest.approx(float(q @ group_loss), rel=1e-5)


def test_lff_moving_averages_and_relative_difficulty_by_hand():
  """Nam et al. (2020): per-example EMA of the loss (decay 0.7; the first value as is), each divided by the
  largest EMA of its class, W = l_b / (l_b + l_d)."""
  ema, seen = initial_state(4)["ema_b"], jnp.zeros(4)
  ema, seen = ema_update(ema, seen, jnp.array([0, 2]), jnp.array([1.0, 2.0]), 0.7)
  np.testing.assert_allclose(ema, [1.0, 0.0, 2.0, 0.0])
  ema, seen = ema_update(ema, seen, jnp.array([0, 1]), jnp.array([3.0, 4.0]), 0.7)
  np.testing.assert_allclose(ema, [0.7 * 1.0 + 0.3 * 3.0, 4.0, 2.0, 0.0])
  np.testing.assert_allclose(seen, [1.0, 1.0, 1.0, 0.0])
  train_labels = jnp.array([0, 0, 1, 1])
  ema_d = jnp.array([1.0, 1.0, 1.0, 0.5])
  weight = relative_difficulty(ema, ema_d, jnp.array([0, 2]), jnp.array([0, 1]), train_labels, 2)
  # class 0: l_b = 1.6 / 4 = 0.4, l_d = 1 / 1; class 1: l_b = 2 / 2, l_d = 1 / 1
  np.testing.assert_allclose(weight, [0.4 / 1.4, 0.5], rtol=1e-6)


def test_jtt_weights_upweight_the_error_set():
  np.testing.assert_array_equal(jtt_weights(np.array([True, False, True]), 20.0), [20.0, 1.0, 20.0])
  logits = np.array([[2.0, 0.0], [0.0, 1.0], [1.0, 3.0]])
  np.testing.assert_array_equal(error_set(logits, np.array([0, 0, 1])), [False, True, False])
  assert best_upweight({6.0: 0.2, 20.0: 0.5, 50.0: 0.4}) == 20.0


def test_erm_objective_is_the_weighted_mean_cross_entropy():
  logits = jnp.array([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
  labels = jnp.array([0, 0, 1])
  ce = -np.log(np.exp(np.asarray(logits))[np.arange(3), np.asarray(labels)] / np.exp(np.asarray(logits)).sum(1))
  assert float(classification_loss(logits, {"label": labels})) == pytest.approx(ce.mean(), rel=1e-6)
  weights = jnp.array([1.0, 6.0, 1.0])
  assert float(classification_loss(logits, {"label": labels, "weight": weights})) == pytest.approx(
      (ce * np.array([1, 6, 1])).sum() / 8, rel=1e-6)


def test_dfr_head_reads_the_core_feature_and_ignores_the_spurious_one():
  """DFR's refit on group-balanced validation data: with a core feature (label, noisy) and a spurious feature
  that equals the label in 90% of rows, the balanced L1 logistic regression weights the core feature, and the
  dense head it returns computes scikit-learn's decision on unscaled features."""
  rng = np.random.default_rng(0)
  n = 2000
  labels = rng.integers(0, 2, n)
  cue = np.where(rng.random(n) < 0.9, labels, 1 - labels)
  features = np.stack([labels + 0.6 * rng.normal(size=n), cue + 0.05 * rng.normal(size=n), rng.normal(size=n)], 1)
  groups = labels * 2 + cue
  head, chosen = dfr_head(features, labels, groups, 2, (1.0, 0.1, 0.01), num_refits=5, seed=0)
  weight = head["kernel"][:, 1] - head["kernel"][:, 0]  # the logit of class 1 against class 0
  assert abs(weight[0]) > 3 * abs(weight[1]) and chosen["inverse_l1_strength"] in (1.0, 0.1, 0.01)
  predictions = (features @ head["kernel"] + head["bias"]).argmax(1)
  assert worst_group_accuracy(predictions, labels, groups) > 0.7  # ERM on the cue would get ~0 on two groups
  index = group_balanced_index(groups, np.random.default_rng(1))
  assert len(set(np.bincount(groups[index]))) == 1


@pytest.mark.parametrize("num_classes", [2, 3])
def test_dfr_dense_head_computes_the_linear_model_on_unscaled_features(num_classes):
  rng = np.random.default_rng(1)
  labels = rng.integers(0, num_classes, 600)
  features = rng.normal(size=(600, 4)) * [1.0, 3.0, 0.5, 2.0] + [5.0, -1.0, 0.0, 2.0]
  features[:, 0] += 2.0 * labels
  mean, scale = features.mean(0), features.std(0)
  coef, intercept = l1_logistic_regression((features - mean) / scale, labels, 1.0)
  head = as_dense_head(coef, intercept, mean, scale, num_classes)
  scores = ((features - mean) / scale) @ coef.T + intercept
  logits = features @ head["kernel"] + head["bias"]
  if num_classes == 2:
    np.testing.assert_allclose(logits[:, 1] - logits[:, 0], scores[:, 0], rtol=1e-4, atol=1e-4)
  else:
    np.testing.assert_allclose(logits, scores, rtol=1e-4, atol=1e-4)
  np.testing.assert_array_equal(logits.argmax(1), linear_predictions((features - mean) / scale, coef, intercept))
  assert np.mean(logits.argmax(1) == labels) > 0.6


def test_lff_objective_is_gce_of_the_biased_plus_w_weighted_ce_of_the_debiased_model():
  """Nam et al. (2020), eq. (2)-(3): loss = mean GCE_q(biased) + mean W(x) CE(debiased), W from the moving
  averages, which carry no gradient; by hand, the first time each row is seen (so the averages are the losses)."""
  biased = jnp.array([[2.0, 0.0], [0.0, 1.0], [0.5, 0.0], [0.0, 3.0]])
  debiased = jnp.array([[0.0, 1.0], [1.0, 0.0], [0.2, 0.0], [0.0, 0.5]])
  labels, train_labels, q = jnp.array([0, 1, 1, 0]), jnp.array([0, 1, 1, 0, 1, 0]), 0.7
  apply_fn = lambda variables, images, rngs=None, train=True, method=None: (variables["params"]["b"],
                                                                          variables["params"]["d"])
  batch = {"image": jnp.zeros((4, 1)), "label": labels, "index": jnp.array([0, 1, 2, 3])}
  objective = lff_objective(q, 0.7, train_labels, 2)
  params = {"b": biased, "d": debiased}
  (loss, (_, state, _)), grads = jax.value_and_grad(objective, has_aux=True)(
      params, {}, initial_state(6), batch, jax.random.key(0), apply_fn)

  p_b, p_d = np.asarray(jax.nn.softmax(biased)), np.asarray(jax.nn.softmax(debiased))
  rows = np.arange(4)
  ce_b, ce_d = -np.log(p_b[rows, labels]), -np.log(p_d[rows, labels])
  gce = (1 - p_b[rows, labels] ** q) / q
  # rows 4 and 5 are unseen (average 0), so each class's largest average is among rows 0-3
  l_b = ce_b / np.array([max(ce_b[[0, 3]]), max(ce_b[[1, 2]]), max(ce_b[[1, 2]]), max(ce_b[[0, 3]])])
  l_d = ce_d / np.array([max(ce_d[[0, 3]]), max(ce_d[[1, 2]]), max(ce_d[[1, 2]]), max(ce_d[[0, 3]])])
  weight = l_b / (l_b + l_d)
  assert float(loss) == pytest.approx(gce.mean() + (weight * ce_d).mean(), rel=1e-5)
  np.testing.assert_allclose(state["ema_b"][:4], ce_b, rtol=1e-5)
  np.testing.assert_allclose(state["ema_d"][:4], ce_d, rtol=1e-5)
  # a second step on rows 0 (seen) and 4 (not yet): 0.7 old + 0.3 new for the one, the loss itself for the other
  batch2 = {**batch, "label": jnp.array([0, 0, 1, 1]), "index": jnp.array([0, 4, 2, 5])}
  _, (_, state2, _) = objective(params, {}, state, batch2, jax.random.key(0), apply_fn)
  ce_b2 = -np.log(p_b[rows, [0, 0, 1, 1]])
  ce_d2 = -np.log(p_d[rows, [0, 0, 1, 1]])
  np.testing.assert_allclose(np.asarray(state2["ema_b"])[[0, 4, 2, 5]], [0.7 * ce_b[0] + 0.3 * ce_b2[0], ce_b2[1],
                                                             0.7 * ce_b[2] + 0.3 * ce_b2[2], ce_b2[3]], rtol=1e-5)
  np.testing.assert_allclose(np.asarray(state2["ema_d"])[[0, 4, 2, 5]], [0.7 * ce_d[0] + 0.3 * ce_d2[0], ce_d2[1],
                                                             0.7 * ce_d[2] + 0.3 * ce_d2[2], ce_d2[3]], rtol=1e-5)
  onehot = np.eye(2)[labels]
  # W is a constant of the step: the debiased gradient is W (p - y) / B; the biased one is GCE's alone
  np.testing.assert_allclose(grads["d"], weight[:, None] * (p_d - onehot) / 4, rtol=1e-4, atol=1e-7)
  gce_grad = -(p_b[rows, labels] ** q)[:, None] * (onehot - p_b) / 4
  np.testing.assert_allclose(grads["b"], gce_grad, rtol=1e-4, atol=1e-7)


def test_model_selection_keeps_the_batch_statistics_of_the_selected_step(tmp_path):
  model = SmallCNN(num_classes=2, widths=(4,))
  variables = init_variables(model, jax.random.key(0), (8, 8, 3))
  state = create_train_state(model, variables, optax.sgd(0.1))
  selector = BestByValidation(str(tmp_path), "val", "worst_group_accuracy")
  selector(10, state, {"val": {"worst_group_accuracy": 0.6}})
  later = state.replace(params=jax.tree.map(lambda x: x + 1.0, state.params),
                        batch_stats=jax.tree.map(lambda x: x + 2.0, state.batch_stats))
  selector(20, later, {"val": {"worst_group_accuracy": 0.4}})
  assert selector.info["step"] == 10
  chosen = selector.best_state(later)
  chex.assert_trees_all_equal(chosen.params, state.params)
  chex.assert_trees_all_equal(chosen.batch_stats, state.batch_stats)
  # a resumed run reads its choice back; one that now selects by another metric chooses afresh
  resumed = BestByValidation(str(tmp_path), "val", "worst_group_accuracy")
  chex.assert_trees_all_equal(resumed.best_state(later).batch_stats, state.batch_stats)
  assert BestByValidation(str(tmp_path), "val", "balanced_accuracy").info is None
