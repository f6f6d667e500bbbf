"""Per-latent-dimension diagnostics of a VAE method's training batch: why a run does or does not drop the shortcut.

For each latent dimension j, from the batch's mean codes mu [B, d], the classifier's input codes [B, d] and the
cues [B] (used here only, never in a loss):

- `cue_correlation_j`: |corr(mu_j, cue)|, one-vs-rest over the cue values, the largest (uniform weights);
- `spread_j`: the std of mu_j over the batch;
- `sensitivity_j`: mean over the batch of ||df/dz_j||, the classifier's logits' derivative along dimension j at
  its input code, by forward mode (`jax.jvp`, as the penalty of penalty.py).

A dimension with a high cue correlation, a spread well above its noise and a high sensitivity is a shortcut the
classifier reads; a high correlation with a low sensitivity is one it ignores.
"""

from typing import Callable

import jax
import jax.numpy as jnp

from jaxshort.sitar.scores import weighted_correlation


def cue_correlation(mu: jnp.ndarray, cues: jnp.ndarray, num_cues: int) -> jnp.ndarray:
  """[d]: the largest |corr(mu_j, 1[cue = c])| over the cue values c; rows with cue < 0 count as no cue."""
  weights = jnp.full(mu.shape[0], 1.0 / mu.shape[0])
  corr = weighted_correlation(jax.lax.stop_gradient(mu), jax.nn.one_hot(cues, num_cues), weights)
  return jnp.max(jnp.abs(corr), axis=1)


def latent_sensitivity(classify: Callable[[jnp.ndarray], jnp.ndarray], codes: jnp.ndarray) -> jnp.ndarray:
  """[d]: the mean over rows of ||d classify(codes) / dz_j|| (the L2 norm over the logits), one jvp per j."""
  codes = jax.lax.stop_gradient(codes)
  basis = jnp.eye(codes.shape[-1], dtype=codes.dtype)
  along = lambda e: jax.jvp(classify, (codes,), (jnp.broadcast_to(e, codes.shape),))[1]
  derivatives = jax.vmap(along)(basis)  # [d, B, C]
  return jnp.mean(jnp.linalg.norm(derivatives, axis=-1), axis=1)


def batch_diagnostics(mu: jnp.ndarray, codes: jnp.ndarray, cues: jnp.ndarray, num_cues: int,
                      classify: Callable[[jnp.ndarray], jnp.ndarray]) -> dict[str, jnp.ndarray]:
  """The metrics `cue_correlation_j`, `spread_j` and `sensitivity_j` of every latent dimension j."""
  values = {"cue_correlation": cue_correlation(mu, cues, num_cues),
            "spread": jnp.std(jax.lax.stop_gradient(mu), axis=0),
            "sensitivity": latent_sensitivity(classify, codes)}
  return {f"{name}_{j}": series[j] for name, series in values.items() for j in range(mu.shape[-1])}
