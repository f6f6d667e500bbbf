"""Methods on the jointly trained VAE + latent classifier: SITAR and Chroma-VAE. Predictions come from the
classifier at the mean code mu (the model's `__call__`)."""

import jax
import jax.numpy as jnp
import ml_collections
import optax

from jaxshort.data import Dataset
from jaxshort.methods.common import build_backbone, fit
from jaxshort.sitar import SitarHParams, sitar_loss
from jaxshort.sitar.diagnostics import batch_diagnostics
from jaxshort.sitar.loss import encode_sample_decode
from jaxshort.training.steps import Objective, batch_accuracy, stateless_objective


def sitar_hparams(config: ml_collections.ConfigDict) -> SitarHParams:
  """SitarHParams from the config's `sitar` field."""
  return SitarHParams(**config.sitar.to_dict())


def sitar_objective(hp: SitarHParams, num_classes: int, num_cues: int) -> Objective:
  """The SITAR objective (sitar/loss.py) as the training step takes it; the batch's cues feed the diagnostics
  only."""
  return stateless_objective(
      lambda params, apply_fn, batch, rng: sitar_loss(params, apply_fn, batch["image"], batch["label"], rng, hp,
                                                      num_classes, batch["step"], batch.get("cue"), num_cues))


def sitar(config: ml_collections.ConfigDict, dataset: Dataset, run_dir: str, erm_dir: str):
  """SITAR (Pal, Varshney & Rai, 2025; docs/sitar.md), with `config.sitar.method` 'noise', 'penalty_exact' or 'penalty_sample'."""
  del erm_dir
  hp = sitar_hparams(config)

  return fit(config, dataset, build_backbone(config, dataset, "sitar_vae"), run_dir,
             sitar_objective(hp, dataset.num_classes, dataset.num_cues), name="sitar")


def chroma_vae(config: ml_collections.ConfigDict, dataset: Dataset, run_dir: str, erm_dir: str):
  """Chroma-VAE: L_VAE + CE of a classifier on z1 (the first `chroma.shortcut_dims` dims, which pulls the
  shortcut there) + CE of a classifier on z2 (the rest), with gradients of the z2 classifier stopped at z2 so
  that it reads the latent without shaping it (the paper trains it after the VAE; here both run jointly)."""
  del erm_dir
  beta, reconstruction_weight = config.sitar.beta, config.sitar.reconstruction_weight
  model = build_backbone(config, dataset, "chroma_vae").clone(shortcut_dims=config.chroma.shortcut_dims)

  def loss_fn(params, apply_fn, batch, rng):
    labels = batch["label"]
    mu, z, l_vae, metrics = encode_sample_decode(apply_fn, params, batch["image"], rng, beta,
                                                   reconstruction_weight)
    z = jnp.concatenate([z[:, :model.shortcut_dims], jax.lax.stop_gradient(z[:, model.shortcut_dims:])], -1)
    shortcut_logits = apply_fn({"params": params}, z, method="classify_shortcut")
    classify = lambda codes: apply_fn({"params": params}, codes, method="classify")
    logits = classify(z)
    ce = optax.softmax_cross_entropy_with_integer_labels
    loss = l_vae + jnp.mean(ce(shortcut_logits, labels)) + jnp.mean(ce(logits, labels))
    if "cue" in batch:
      metrics.update(batch_diagnostics(mu, z, batch["cue"], dataset.num_cues, classify))
    return loss, {**metrics, "accuracy": batch_accuracy(logits, labels),
                  "shortcut_accuracy": batch_accuracy(shortcut_logits, labels)}

  return fit(config, dataset, model, run_dir, stateless_objective(loss_fn), name="chroma_vae")
