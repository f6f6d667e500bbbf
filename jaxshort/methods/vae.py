"""Methods on the jointly trained VAE + latent classifier: SITAR and Chroma-VAE. Predictions come from the
classifier at the mean code mu (the model's `__call__`)."""

import jax
import jax.numpy as jnp
import ml_collections
import optax

from jaxshort.data import Dataset
from jaxshort.methods.common import build_backbone, fit
from jaxshort.sitar import SitarHParams, sitar_loss
from jaxshort.sitar.loss import encode_sample_decode


def sitar_hparams(config: ml_collections.ConfigDict) -> SitarHParams:
  """SitarHParams from the config's `sitar` field."""
  return SitarHParams(alpha=config.sitar.alpha, beta=config.sitar.beta, lambda_cons=config.sitar.lambda_cons,
                      method=config.sitar.method, isotropic=config.sitar.get("isotropic", False),
                      reconstruction_weight=config.sitar.get("reconstruction_weight", 1.0))


def sitar(config: ml_collections.ConfigDict, dataset: Dataset, run_dir: str, erm_dir: str):
  """SITAR (spec/sitar.md), with `config.sitar.method` 'noise', 'penalty_exact' or 'penalty_sample'."""
  del erm_dir
  hp = sitar_hparams(config)

  def loss_fn(params, apply_fn, batch, rng):
    return sitar_loss(params, apply_fn, batch["image"], batch["label"], rng, hp, dataset.num_classes)

  return fit(config, dataset, build_backbone(config, dataset, "sitar_vae"), run_dir, loss_fn, name="sitar")


def chroma_vae(config: ml_collections.ConfigDict, dataset: Dataset, run_dir: str, erm_dir: str):
  """Chroma-VAE: L_VAE + CE of a classifier on z1 (the first `chroma.shortcut_dims` dims, which pulls the
  shortcut there) + CE of a classifier on z2 (the rest), with gradients of the z2 classifier stopped at z2 so
  that it reads the latent without shaping it (the paper trains it after the VAE; here both run jointly)."""
  del erm_dir
  beta, reconstruction_weight = config.sitar.beta, config.sitar.get("reconstruction_weight", 1.0)
  model = build_backbone(config, dataset, "chroma_vae").clone(shortcut_dims=config.chroma.shortcut_dims)

  def loss_fn(params, apply_fn, batch, rng):
    labels = batch["label"]
    _, z, l_vae, metrics = encode_sample_decode(apply_fn, params, batch["image"], rng, beta,
                                                   reconstruction_weight)
    z = jnp.concatenate([z[:, :model.shortcut_dims], jax.lax.stop_gradient(z[:, model.shortcut_dims:])], -1)
    shortcut_logits = apply_fn({"params": params}, z, method="classify_shortcut")
    logits = apply_fn({"params": params}, z, method="classify")
    ce = optax.softmax_cross_entropy_with_integer_labels
    loss = l_vae + jnp.mean(ce(shortcut_logits, labels)) + jnp.mean(ce(logits, labels))
    return loss, {**metrics, "accuracy": jnp.mean(jnp.argmax(logits, -1) == labels),
                  "shortcut_accuracy": jnp.mean(jnp.argmax(shortcut_logits, -1) == labels)}

  return fit(config, dataset, model, run_dir, loss_fn, name="chroma_vae")
