"""Learning from Failure (Nam et al., 2020): a biased model trained with generalized cross-entropy, which
amplifies the easy (shortcut) cue, and a debiased model whose per-example cross-entropy is weighted by the
relative difficulty W = CE_b / (CE_b + CE_d). Both are the same backbone, trained together; the debiased one
predicts. Simplification: W uses the current per-example losses, not LfF's per-class-normalized moving averages.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax

from jaxshort.data import Dataset
from jaxshort.methods.common import build_backbone, fit
from jaxshort.training.steps import apply_model, batch_accuracy


class BiasedDebiasedPair(nn.Module):
  """Two copies of a backbone, blocks `biased` and `debiased`; `__call__` gives the debiased logits."""
  backbone: nn.Module

  @property
  def blocks(self) -> tuple[str, ...]:
    return ("biased", "debiased")

  def setup(self):
    self.biased = self.backbone.clone(name="biased")
    self.debiased = self.backbone.clone(name="debiased")

  def both(self, images: jnp.ndarray, train: bool = False) -> tuple[jnp.ndarray, jnp.ndarray]:
    """images [B, H, W, C] -> (biased logits, debiased logits), each [B, C]; `train` reaches both backbones
    (batch statistics, dropout)."""
    return self.biased(images, train), self.debiased(images, train)

  def features(self, images: jnp.ndarray) -> jnp.ndarray:
    return self.debiased.features(images)

  def __call__(self, images: jnp.ndarray, train: bool = False) -> jnp.ndarray:
    if self.is_initializing():
      self.biased(images, train)
    return self.debiased(images, train)


def generalized_cross_entropy(logits: jnp.ndarray, labels: jnp.ndarray, q: float) -> jnp.ndarray:
  """GCE (1 - p_y^q) / q per example: logits [B, C], labels [B] -> [B]."""
  p_y = jnp.take_along_axis(jax.nn.softmax(logits), labels[:, None], -1)[:, 0]
  return (1.0 - jnp.maximum(p_y, 1e-8)**q) / q


def lff_objective(q: float):
  """The LfF objective of a BiasedDebiasedPair (module docstring); `q` is the GCE exponent."""

  def loss_fn(params, batch_stats, method_state, batch, rng, apply_fn):
    labels = batch["label"]
    (biased, debiased), batch_stats = apply_model(apply_fn, params, batch_stats, batch["image"], rng, method="both")
    ce_b = optax.softmax_cross_entropy_with_integer_labels(biased, labels)
    ce_d = optax.softmax_cross_entropy_with_integer_labels(debiased, labels)
    weight = jax.lax.stop_gradient(ce_b / jnp.maximum(ce_b + ce_d, 1e-8))
    loss = jnp.mean(generalized_cross_entropy(biased, labels, q)) + jnp.mean(weight * ce_d)
    metrics = {"accuracy": batch_accuracy(debiased, labels), "biased_accuracy": batch_accuracy(biased, labels),
               "mean_weight": jnp.mean(weight)}
    return loss, (batch_stats, method_state, metrics)

  return loss_fn


def lff(config: ml_collections.ConfigDict, dataset: Dataset, run_dir: str, erm_dir: str):
  """LfF on the shared backbone; `lff.q` is the GCE exponent."""
  del erm_dir
  model = BiasedDebiasedPair(build_backbone(config, dataset))
  return fit(config, dataset, model, run_dir, lff_objective(config.lff.q), name="lff")
