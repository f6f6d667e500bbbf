"""Learning from Failure (Nam et al., 2020): a biased model trained with generalized cross-entropy, which
amplifies the easy (shortcut) cue, and a debiased model whose per-example cross-entropy is weighted by the
relative difficulty W(x) = L_b(x) / (L_b(x) + L_d(x)). As in the paper (section 3 and the authors' code), L_b
and L_d are exponential moving averages of each training example's cross-entropy under the two models (decay
`lff.ema`, 0.7), each divided by its maximum over the examples of the same class. Both models are the same
backbone, trained together; the debiased one predicts. The averages are the method's state, so a resumed run
continues them exactly.
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


def ema_update(ema: jnp.ndarray, seen: jnp.ndarray, index: jnp.ndarray, losses: jnp.ndarray,
               decay: float) -> tuple[jnp.ndarray, jnp.ndarray]:
  """Per-example moving averages ema [N] at rows `index` [B]: decay * old + (1 - decay) * loss, and the loss
  itself the first time a row is seen (seen [N], 0 or 1), as the authors' code does. Returns (ema, seen)."""
  old, first = ema[index], 1.0 - seen[index]
  return ema.at[index].set(decay * old * (1.0 - first) + (1.0 - decay * (1.0 - first)) * losses), \
      seen.at[index].set(1.0)


def relative_difficulty(ema_b: jnp.ndarray, ema_d: jnp.ndarray, index: jnp.ndarray, labels: jnp.ndarray,
                        train_labels: jnp.ndarray, num_classes: int) -> jnp.ndarray:
  """W [B] = l_b / (l_b + l_d) of the rows `index`, where l = ema / (the largest ema among the training
  examples of the row's class); train_labels [N] are the classes of all rows."""
  def normalized(ema):
    largest = jax.ops.segment_max(ema, train_labels, num_segments=num_classes)
    return ema[index] / jnp.maximum(largest[labels], 1e-8)
  l_b, l_d = normalized(ema_b), normalized(ema_d)
  return l_b / (l_b + l_d + 1e-8)


def initial_state(num_examples: int) -> dict:
  """LfF's state: both models' moving averages and which rows have been seen, zeros [N] each."""
  return {"ema_b": jnp.zeros(num_examples), "ema_d": jnp.zeros(num_examples), "seen": jnp.zeros(num_examples)}


def lff_objective(q: float, decay: float, train_labels, num_classes: int):
  """The LfF objective of a BiasedDebiasedPair (module docstring): mean GCE of the biased model plus the
  W-weighted mean cross-entropy of the debiased one. `q` is the GCE exponent, `decay` the averages'; train_labels
  int [N] are the training split's labels, which batches index by `batch['index']`."""
  train_labels = jnp.asarray(train_labels, jnp.int32)

  def loss_fn(params, batch_stats, method_state, batch, rng, apply_fn):
    labels = batch["label"]
    (biased, debiased), batch_stats = apply_model(apply_fn, params, batch_stats, batch["image"], rng, method="both")
    ce_b = optax.softmax_cross_entropy_with_integer_labels(biased, labels)
    ce_d = optax.softmax_cross_entropy_with_integer_labels(debiased, labels)
    index = batch["index"]
    ema_b, seen = ema_update(method_state["ema_b"], method_state["seen"], index, jax.lax.stop_gradient(ce_b), decay)
    ema_d, _ = ema_update(method_state["ema_d"], method_state["seen"], index, jax.lax.stop_gradient(ce_d), decay)
    method_state = {"ema_b": ema_b, "ema_d": ema_d, "seen": seen}
    weight = relative_difficulty(ema_b, ema_d, index, labels, train_labels, num_classes)
    loss = jnp.mean(generalized_cross_entropy(biased, labels, q)) + jnp.mean(weight * ce_d)
    metrics = {"accuracy": batch_accuracy(debiased, labels), "biased_accuracy": batch_accuracy(biased, labels),
               "mean_weight": jnp.mean(weight)}
    return loss, (batch_stats, method_state, metrics)

  return loss_fn


def lff(config: ml_collections.ConfigDict, dataset: Dataset, run_dir: str, erm_dir: str):
  """LfF on the shared backbone; `lff.q` is the GCE exponent."""
  del erm_dir
  model = BiasedDebiasedPair(build_backbone(config, dataset))
  train_labels = dataset.splits[dataset.roles["train"]]["label"]
  objective = lff_objective(config.lff.q, config.lff.ema, train_labels, dataset.num_classes)
  return fit(config, dataset, model, run_dir, objective, name="lff", method_state=initial_state(len(train_labels)))
