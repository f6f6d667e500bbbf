"""Shortcut scores: how strongly each latent dimension tracks the label within a minibatch.

v_j = |corr_w(mu_j, y)|, a weighted Pearson correlation. The paper weights the correlation to correct class
imbalance without saying how; here each example weighs 1 / (count of its class in the batch), so every class
present carries the same total weight (a batch with 90% of one class scores like a balanced one). With more than
two classes, y is taken one-vs-rest for each class and v_j is the largest absolute correlation. Gradients are
stopped through mu: the scores are a constant of the step.
"""

import jax
import jax.numpy as jnp


def class_balance_weights(labels: jnp.ndarray, num_classes: int) -> jnp.ndarray:
  """Per-example weights float [B] proportional to 1 / (class count in the batch), summing to 1."""
  onehot = jax.nn.one_hot(labels, num_classes)
  counts = onehot.sum(0)
  weights = 1.0 / jnp.maximum(counts[labels], 1.0)
  return weights / weights.sum()


def weighted_correlation(x: jnp.ndarray, y: jnp.ndarray, weights: jnp.ndarray) -> jnp.ndarray:
  """Weighted Pearson correlation of each column of x [B, d] with each column of y [B, k] -> [d, k].

  weights [B] sum to 1. A column with zero weighted variance correlates 0 with everything.
  """
  x = x - weights @ x
  y = y - weights @ y
  cov = (x * weights[:, None]).T @ y
  var_x = weights @ (x * x)
  var_y = weights @ (y * y)
  denom = jnp.sqrt(var_x[:, None] * var_y[None, :])
  return jnp.where(denom > 0, cov / jnp.where(denom > 0, denom, 1.0), 0.0)


def shortcut_scores(mu: jnp.ndarray, labels: jnp.ndarray, num_classes: int) -> jnp.ndarray:
  """Scores v float [d] in [0, 1] of mean codes mu [B, d] against int labels [B] (see the module docstring)."""
  mu = jax.lax.stop_gradient(mu)
  weights = class_balance_weights(labels, num_classes)
  corr = weighted_correlation(mu, jax.nn.one_hot(labels, num_classes), weights)
  return jnp.max(jnp.abs(corr), axis=1)
