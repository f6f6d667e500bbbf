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
from jaxshort.training.steps import Objective, batch_accuracy, stateless_objective


def sitar_hparams(config: ml_collections.ConfigDict) -> SitarHParams:
  """SitarHParams from the config's `sitar` field."""
  return SitarHParams(alpha=config.sitar.alpha, beta=config.sitar.beta, lambda_cons=config.sitar.lambda_cons,
                      method=config.sitar.method, isotropic=config.sitar.isotropic,
                      reconstruction_weight=config.sitar.reconstruction_weight)


def sitar_objective(hp: SitarHParams, num_classes: int) -> Objective:
  """The SITAR objective (sitar/loss.py) as the training step takes it."""
  return stateless_objective(
      lambda params, apply_fn, batch, rng: sitar_loss(params, apply_fn, batch["image"], batch["label"], rng, hp,
                                                      num_classes))


def sitar(config: ml_collections.ConfigDict, dataset: Dataset, run_dir: str, erm_dir: str):
  """SITAR (Pal, Varshney & Rai, 2025; docs/sitar.md), with `config.sitar.method` 'noise', 'penalty_exact' or 'penalty_sample'."""
  del erm_dir
  hp = sitar_hparams(config)

  return fit(config, dataset, build_backbone(config, dataset, "sitar_vae"), run_dir,
             sitar_objective(hp, dataset.num_classes), name="sitar")


def chroma_vae(config: ml_collections.ConfigDict, dataset: Dataset, run_dir: str, erm_dir: str):
  """Chroma-VAE: L_VAE + CE of a classifier on z1 (the first `chroma.shortcut_dims` dims, which pulls the
  shortcut there) + CE of a classifier on z2 (the rest), with gradients of the z2 classifier stopped at z2 so
  that it reads the latent without shaping it (the paper trains it after the VAE; here both run jointly)."""
  del erm_dir
  beta, reconstruction_weight = config.sitar.beta, config.sitar.reconstruction_weight
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
    return loss, {**metrics, "accuracy": batch_accuracy(logits, labels),
                  "shortcut_accuracy": batch_accuracy(shortcut_logits, labels)}

  return fit(config, dataset, model, run_dir, stateless_objective(loss_fn), name="chroma_vae")
