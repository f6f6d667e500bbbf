"""SITAR's scores and Jacobian penalty against independent references: numpy, jacfwd/hessian, Monte Carlo."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxshort.sitar import exact_penalty, sample_penalty, shortcut_scores

D, C, B = 4, 3, 5
LAMBDA = 0.5


class TinyNet(nn.Module):
  """A smooth (tanh) 2-layer network R^D -> R^C with curvature."""

  @nn.compact
  def __call__(self, z):
    return nn.Dense(C)(jnp.tanh(nn.Dense(16)(z)))


def _setup():
  net = TinyNet()
  params = net.init(jax.random.key(0), jnp.zeros((1, D)))
  params = jax.tree.map(lambda p: 2.0 * p, params)  # sharper curvature
  f = lambda z: net.apply(params, z)
  z = jax.random.normal(jax.random.key(1), (B, D))
  labels = jnp.array([0, 1, 2, 0, 1])
  scale = 0.05 * jnp.array([1.0, 0.7, 0.2, 0.0])
  return f, z, labels, scale


def _reference_terms(f, z_n, y_n, curvature=True):
  """T_i for every basis direction i from the full Jacobian and Hessian of one example: [D]."""
  single = lambda x: f(x[None])[0]
  logits = single(z_n)
  jac = jax.jacfwd(single)(z_n)  # [C, D]
  hess = jax.hessian(single)(z_n)  # [C, D, D]
  p = jax.nn.softmax(logits)
  g = p - jax.nn.one_hot(y_n, C)
  h = jnp.diag(p) - jnp.outer(p, p)
  jhj = jnp.einsum("ci,cd,di->i", jac, h, jac)
  curv = jnp.einsum("c,cii->i", g, hess)
  return 0.5 * jhj + LAMBDA * jnp.sum(jac**2, 0) + (0.5 * curv if curvature else 0.0)


def test_exact_penalty_matches_jacfwd_and_hessian():
  f, z, labels, scale = _setup()
  penalty, logits = exact_penalty(f, z, labels, scale, LAMBDA)
  expected = jnp.stack([jnp.sum(scale**2 * _reference_terms(f, z[n], labels[n])) for n in range(B)])
  np.testing.assert_allclose(penalty, expected, rtol=1e-4, atol=1e-7)
  np.testing.assert_allclose(logits, f(z), rtol=1e-6)


def test_sample_penalty_is_unbiased():
  f, z, labels, scale = _setup()
  exact, _ = exact_penalty(f, z, labels, scale, LAMBDA)
  keys = jax.random.split(jax.random.key(2), 20000)
  samples = jax.vmap(lambda k: sample_penalty(f, z, labels, scale, LAMBDA, k)[0])(keys)
  np.testing.assert_allclose(samples.mean(0), exact, rtol=0.05, atol=2e-4)


def _monte_carlo_excess(f, z, labels, scale, num_pairs=100000):
  """E[L(z + u)] - CE(f(z), y) with antithetic pairs (u, -u), per example [B]."""
  clean = f(z)
  base = optax.softmax_cross_entropy_with_integer_labels(clean, labels)

  def objective(u):
    noisy = f(z + u)
    return optax.softmax_cross_entropy_with_integer_labels(noisy, labels) + LAMBDA * jnp.sum((noisy - clean)**2, -1)

  def pair(key):
    u = scale * jax.random.normal(key, z.shape)
    return 0.5 * (objective(u) + objective(-u)) - base

  keys = jax.random.split(jax.random.key(3), num_pairs)
  return jax.lax.map(pair, keys, batch_size=10000).mean(0)


def test_penalty_matches_monte_carlo_only_with_curvature():
  f, z, labels, scale = _setup()
  excess = _monte_carlo_excess(f, z, labels, scale)
  with_curvature, _ = exact_penalty(f, z, labels, scale, LAMBDA)
  without, _ = exact_penalty(f, z, labels, scale, LAMBDA, curvature=False)
  np.testing.assert_allclose(with_curvature, excess, rtol=0.02)
  relative_error = jnp.abs(without - excess) / jnp.abs(excess)
  assert float(jnp.max(relative_error)) > 0.2, relative_error


def _numpy_weighted_pearson(x, y, w):
  w = w / w.sum()
  mx, my = np.sum(w * x), np.sum(w * y)
  cov = np.sum(w * (x - mx) * (y - my))
  return cov / np.sqrt(np.sum(w * (x - mx)**2) * np.sum(w * (y - my)**2))


@pytest.mark.parametrize("num_classes", [2, 3])
def test_scores_equal_numpy_weighted_pearson(num_classes):
  rng = np.random.default_rng(0)
  labels = rng.choice(num_classes, size=64, p=np.linspace(1, 2, num_classes) / np.linspace(1, 2, num_classes).sum())
  mu = rng.normal(size=(64, 6)) + 1.5 * labels[:, None] * (np.arange(6) == 2)
  weights = 1.0 / np.bincount(labels, minlength=num_classes)[labels]
  expected = [max(abs(_numpy_weighted_pearson(mu[:, j], (labels == c).astype(float), weights))
                  for c in range(num_classes)) for j in range(6)]
  scores = shortcut_scores(jnp.asarray(mu, jnp.float32), jnp.asarray(labels), num_classes)
  np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-6)
  assert int(jnp.argmax(scores)) == 2


def test_scores_stop_gradient():
  labels = jnp.array([0, 1, 0, 1])
  grad = jax.grad(lambda mu: shortcut_scores(mu, labels, 2).sum())(jnp.arange(8.0).reshape(4, 2) ** 1.5)
  assert float(jnp.abs(grad).sum()) == 0.0
