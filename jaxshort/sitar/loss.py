"""The SITAR training objective for one batch (Pal, Varshney & Rai, 2025, the targeted-noise objective):

  L_VAE + mean_n [ CE(f(zbar_n), y_n) + lambda_cons * ||f(zbar_n) - f(z_n)||^2 ],  zbar = z + alpha * v * e,

with z = mu + sigma * eps the VAE sample, v the batch shortcut scores (constants of the step) and one noise draw
e ~ N(0, I) per step. Gradients flow through both the noisy and the clean branch, into the encoder. The
'penalty_exact' and 'penalty_sample' methods replace the noise by its second-order expectation (penalty.py):
L_VAE + mean_n [ CE(f(z_n), y_n) + penalty_n ].
"""

import dataclasses

import jax
import jax.numpy as jnp
import optax

from jaxshort.errors import UserError
from jaxshort.models.vae import sample_latent
from jaxshort.sitar.penalty import exact_penalty, sample_penalty
from jaxshort.sitar.scores import shortcut_scores

METHODS = ("noise", "penalty_exact", "penalty_sample")


@dataclasses.dataclass(frozen=True)
class SitarHParams:
  """SITAR's settings; `isotropic` replaces the scores by v = 1 (the ablation of targeting)."""
  alpha: float = 1.0
  beta: float = 2.0
  lambda_cons: float = 10.0
  method: str = "noise"
  isotropic: bool = False
  reconstruction_weight: float = 1.0

  def __post_init__(self):
    if self.method not in METHODS:
      raise UserError(f"sitar.method must be one of {', '.join(METHODS)}, got {self.method!r}")
    for name in ("alpha", "beta", "lambda_cons", "reconstruction_weight"):
      if getattr(self, name) < 0:
        raise UserError(f"sitar.{name} must be >= 0, got {getattr(self, name)}")


def vae_loss(images: jnp.ndarray, recon: jnp.ndarray, mu: jnp.ndarray, logvar: jnp.ndarray, beta: float,
             reconstruction_weight: float = 1.0):
  """beta-VAE loss: reconstruction_weight x squared error summed over pixels, plus beta x KL(q(z|x) || N(0, I))
  summed over dims, both averaged over the batch. images, recon [B, H, W, C]; mu, logvar [B, d] ->
  (loss, reconstruction, kl), scalars; `reconstruction` is the unweighted squared error.

  The paper's loss is reconstruction_weight = 1. A weight w is a Gaussian likelihood of variance 1 / (2w) on the
  pixel scale (here [-1, 1]), so it stands for the pixel scale the paper leaves open: w = 4 on [-1, 1] images is
  the weight-1 loss on [-2, 2] images.
  """
  reconstruction = jnp.mean(jnp.sum((recon - images)**2, axis=(1, 2, 3)))
  kl = jnp.mean(0.5 * jnp.sum(mu**2 + jnp.exp(logvar) - 1.0 - logvar, axis=-1))
  return reconstruction_weight * reconstruction + beta * kl, reconstruction, kl


def encode_sample_decode(apply_fn, params, images: jnp.ndarray, rng: jax.Array, beta: float,
                         reconstruction_weight: float = 1.0):
  """The VAE half shared by SITAR and Chroma-VAE: images [B, H, W, C] (float) ->
  (mu [B, d], z [B, d], L_VAE, metrics)."""
  variables = {"params": params}
  mu, logvar = apply_fn(variables, images, method="encode")
  z = sample_latent(mu, logvar, rng)
  recon = apply_fn(variables, z, method="decode")
  loss, reconstruction, kl = vae_loss(images, recon, mu, logvar, beta, reconstruction_weight)
  return mu, z, loss, {"vae_loss": loss, "reconstruction": reconstruction, "kl": kl}


def sitar_loss(params, apply_fn, images: jnp.ndarray, labels: jnp.ndarray, rng: jax.Array, hp: SitarHParams,
               num_classes: int) -> tuple[jnp.ndarray, dict]:
  """The SITAR objective (module docstring) of one batch: images float [B, H, W, C], labels int [B].

  Returns (scalar loss, metrics): loss parts, batch accuracy of the classifier's training input, and the
  scores `score_j` of every latent dimension j.
  """
  vae_rng, noise_rng = jax.random.split(rng)
  mu, z, l_vae, metrics = encode_sample_decode(apply_fn, params, images, vae_rng, hp.beta,
                                               hp.reconstruction_weight)
  v = jnp.ones(mu.shape[-1]) if hp.isotropic else shortcut_scores(mu, labels, num_classes)
  scale = hp.alpha * v
  classify = lambda codes: apply_fn({"params": params}, codes, method="classify")

  if hp.method == "noise":
    logits = classify(z + scale * jax.random.normal(noise_rng, z.shape))
    regularizer = hp.lambda_cons * jnp.sum((logits - classify(z))**2, -1)
  elif hp.method == "penalty_exact":
    regularizer, logits = exact_penalty(classify, z, labels, scale, hp.lambda_cons)
  else:
    regularizer, logits = sample_penalty(classify, z, labels, scale, hp.lambda_cons, noise_rng)
  ce = optax.softmax_cross_entropy_with_integer_labels(logits, labels)  # on the noisy code, or on z (penalty)
  loss = l_vae + jnp.mean(ce + regularizer)
  metrics.update({
      "cross_entropy": jnp.mean(ce),
      "regularizer": jnp.mean(regularizer),
      "accuracy": jnp.mean(jnp.argmax(logits, -1) == labels),
      "latent_std": jnp.mean(jnp.std(mu, axis=0)),
      **{f"score_{j}": v[j] for j in range(v.shape[0])},
  })
  return loss, metrics
