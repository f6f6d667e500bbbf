"""The Jacobian view of SITAR's noise, as an explicit penalty built from forward-mode derivatives.

For a classifier f: R^d -> R^C, a code z, noise u = alpha * v * e with e ~ N(0, I), and the per-example objective
L(zbar) = CE(f(zbar), y) + lambda_cons * ||f(zbar) - f(z)||^2, a second-order expansion gives

  E[L(z + u)] - CE(f(z), y) = alpha^2 sum_i v_i^2 T_i + O(alpha^4),
  T_i = 1/2 J_i^T H J_i + 1/2 g^T d2f/dz_i^2 + lambda_cons ||J_i||^2,

with J_i = df/dz_i, H = diag(p) - p p^T, p = softmax(f(z)), g = p - onehot(y). The curvature term
1/2 g^T d2f/dz_i^2 is needed for the expansion to hold (tests/test_sitar_penalty.py checks it by Monte Carlo).
`exact_penalty` sums T_i over all d basis directions; `sample_penalty` evaluates the same quadratic form once
along u itself, an unbiased estimate since E[u_i u_j] = alpha^2 v_i^2 delta_ij.
"""

from typing import Callable

import jax
import jax.numpy as jnp

Classifier = Callable[[jnp.ndarray], jnp.ndarray]  # z [B, d] -> logits [B, C], row by row


def directional_derivatives(f: Classifier, z: jnp.ndarray, u: jnp.ndarray):
  """f(z), its first and its second directional derivative along u, each row along its own direction.

  z, u [B, d] -> (logits, J_u, D2_u), each [B, C]; J_u = jvp(f, z, u), D2_u = jvp of that jvp along u.
  """
  along_u = lambda x: jax.jvp(f, (x,), (u,))
  (logits, first), (_, second) = jax.jvp(along_u, (z,), (u,))
  return logits, first, second


def excess_terms(logits: jnp.ndarray, first: jnp.ndarray, second: jnp.ndarray, labels: jnp.ndarray,
                 lambda_cons: float, curvature: bool = True) -> jnp.ndarray:
  """T along one direction per example: 1/2 J^T H J + 1/2 g^T D2 + lambda_cons ||J||^2.

  logits, first (J), second (D2) [B, C]; labels int [B] -> [B]. `curvature=False` drops 1/2 g^T D2.
  """
  p = jax.nn.softmax(logits)
  g = p - jax.nn.one_hot(labels, logits.shape[-1])
  jhj = jnp.sum(p * first**2, -1) - jnp.sum(p * first, -1)**2
  terms = 0.5 * jhj + lambda_cons * jnp.sum(first**2, -1)
  if curvature:
    terms = terms + 0.5 * jnp.sum(g * second, -1)
  return terms


def exact_penalty(f: Classifier, z: jnp.ndarray, labels: jnp.ndarray, scale: jnp.ndarray, lambda_cons: float,
                  curvature: bool = True) -> tuple[jnp.ndarray, jnp.ndarray]:
  """alpha^2 sum_i v_i^2 T_i, summed exactly over the d basis directions (vmap over the basis).

  z [B, d], labels [B], scale [d] (= alpha * v) -> (penalty [B], logits f(z) [B, C]).
  """
  basis = jnp.eye(z.shape[-1], dtype=z.dtype)

  def along(e_i):
    logits, first, second = directional_derivatives(f, z, jnp.broadcast_to(e_i, z.shape))
    return excess_terms(logits, first, second, labels, lambda_cons, curvature), logits

  terms, logits = jax.vmap(along)(basis)  # [d, B], [d, B, C]
  return jnp.sum(scale[:, None]**2 * terms, 0), logits[0]


def sample_penalty(f: Classifier, z: jnp.ndarray, labels: jnp.ndarray, scale: jnp.ndarray, lambda_cons: float,
                   rng: jax.Array, curvature: bool = True) -> tuple[jnp.ndarray, jnp.ndarray]:
  """One-sample unbiased estimate of `exact_penalty`: T along u = scale * e, e ~ N(0, I) per example.

  z [B, d], labels [B], scale [d] -> (penalty [B], logits f(z) [B, C]).
  """
  u = scale * jax.random.normal(rng, z.shape, z.dtype)
  logits, first, second = directional_derivatives(f, z, u)
  return excess_terms(logits, first, second, labels, lambda_cons, curvature), logits
