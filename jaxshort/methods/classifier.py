"""Methods that train the backbone as a plain classifier on the mean code mu (no VAE loss): ERM, JTT, GroupDRO,
and DFR on top of ERM. GroupDRO and DFR use group labels (GroupDRO in training, DFR on the validation split);
they are reported as such.
"""

import dataclasses
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from jaxshort.data import Dataset
from jaxshort.methods.common import build_backbone, fit, predict
from jaxshort.training.steps import apply_model, batch_accuracy, cross_entropy_objective


def erm(config: ml_collections.ConfigDict, dataset: Dataset, run_dir: str, erm_dir: str):
  """Empirical risk minimization. Trains into `erm_dir` so that DFR (and a second call) reuse the run."""
  del run_dir
  return fit(config, dataset, build_backbone(config, dataset), erm_dir, cross_entropy_objective, name="erm")


def jtt(config: ml_collections.ConfigDict, dataset: Dataset, run_dir: str, erm_dir: str):
  """Just Train Twice: a short ERM run (`jtt.first_steps`, last state), then a fresh model trained with the
  training examples it gets wrong weighted by `jtt.upweight`."""
  del erm_dir
  model = build_backbone(config, dataset)
  first, _ = fit(config, dataset, model, os.path.join(run_dir, "identify"), cross_entropy_objective,
                 num_steps=config.jtt.first_steps, select=False, name="jtt-identify")
  train_name = dataset.roles["train"]
  train = dict(dataset.splits[train_name])
  wrong = predict(first, train, config.eval_batch_size).argmax(-1) != train["label"]
  train["weight"] = np.where(wrong, config.jtt.upweight, 1.0).astype(np.float32)
  reweighted = dataclasses.replace(dataset, splits={**dataset.splits, train_name: train})
  state, info = fit(config, reweighted, model, os.path.join(run_dir, "final"), cross_entropy_objective, name="jtt")
  return state, {**info, "error_set_size": int(wrong.sum()), "error_set_fraction": float(wrong.mean())}


def group_dro_loss(step_size: float, num_groups: int):
  """GroupDRO objective on one batch: sum_g q_g L_g with q = softmax(step_size * L) over the groups present,
  a constant of the step. This is the closed-form worst case of a KL-regularized adversary, computed per batch,
  rather than the online exponentiated-gradient q of Sagawa et al. (2020); it needs no state across steps."""

  def loss_fn(params, batch_stats, method_state, batch: dict, rng: jax.Array, apply_fn):
    logits, batch_stats = apply_model(apply_fn, params, batch_stats, batch["image"], rng)
    losses = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"])
    onehot = jax.nn.one_hot(batch["group"], num_groups)
    counts = onehot.sum(0)
    group_loss = (losses @ onehot) / jnp.maximum(counts, 1.0)
    logits_q = jnp.where(counts > 0, step_size * jax.lax.stop_gradient(group_loss), -jnp.inf)
    q = jax.nn.softmax(logits_q)
    metrics = {"accuracy": batch_accuracy(logits, batch["label"]),
               "worst_batch_group_loss": jnp.max(jnp.where(counts > 0, group_loss, 0.0))}
    return jnp.sum(q * group_loss), (batch_stats, method_state, metrics)

  return loss_fn


def group_dro(config: ml_collections.ConfigDict, dataset: Dataset, run_dir: str, erm_dir: str):
  """GroupDRO (uses training group labels)."""
  del erm_dir
  loss_fn = group_dro_loss(config.group_dro.step_size, dataset.num_groups)
  return fit(config, dataset, build_backbone(config, dataset), run_dir, loss_fn, name="group_dro")


def fit_last_layer(features: np.ndarray, labels: np.ndarray, weights: np.ndarray, num_classes: int,
                   l2: float, steps: int = 500) -> dict:
  """Weighted, L2-regularized logistic regression: features [N, k], labels [N], weights [N] ->
  {'kernel': [k, C], 'bias': [C]} (full-batch Adam)."""
  x, y, w = jnp.asarray(features), jnp.asarray(labels), jnp.asarray(weights / weights.sum())
  params = {"kernel": jnp.zeros((x.shape[1], num_classes)), "bias": jnp.zeros(num_classes)}

  def loss(p):
    ce = optax.softmax_cross_entropy_with_integer_labels(x @ p["kernel"] + p["bias"], y)
    return jnp.sum(w * ce) + l2 * jnp.sum(p["kernel"]**2)

  tx = optax.adam(1e-2)

  @jax.jit
  def run(p):
    def body(carry, _):
      p, opt = carry
      updates, opt = tx.update(jax.grad(loss)(p), opt)
      return (optax.apply_updates(p, updates), opt), None
    return jax.lax.scan(body, (p, tx.init(p)), None, length=steps)[0][0]

  return run(params)


def dfr(config: ml_collections.ConfigDict, dataset: Dataset, run_dir: str, erm_dir: str):
  """Deep Feature Reweighting: the ERM model's last layer refit on the validation split, group-balanced (each
  group weighs the same in total). Uses validation group labels; the validation metrics are then in-sample."""
  del run_dir
  state, info = fit(config, dataset, build_backbone(config, dataset), erm_dir, cross_entropy_objective, name="erm")
  val = dataset.splits[dataset.roles["validation"]]
  features = predict(state, val, config.eval_batch_size, method="features")
  counts = np.bincount(val["group"], minlength=dataset.num_groups)
  head = fit_last_layer(features, val["label"], 1.0 / counts[val["group"]], dataset.num_classes, config.dfr.l2)
  params = jax.device_get(state.params)
  params = {**params, "classifier": {**params["classifier"], "out": jax.device_get(head)}}
  placed = jax.device_put(params, jax.tree.map(lambda x: x.sharding, state.params))
  info.pop("best_validation", None)  # the ERM run's, not the refit model's
  return state.replace(params=placed), {**info, "last_layer_examples": int(len(val["label"]))}
