"""Metric definitions, stated once.

- accuracy: correct / examples over the whole split.
- balanced_accuracy: the mean over classes of per-class accuracy (model selection without group labels).
- group accuracy: accuracy within one (label, cue) group.
- worst_group_accuracy: the minimum group accuracy over groups with at least one example.
- group_weighted_accuracy: group accuracies averaged with given weights (for Waterbirds, the training group
  proportions); reported only where weights are given, under that name.

`count_correct` runs inside the jitted eval step and returns sums over a batch; `summarize` turns the summed
counts of a whole split into the metrics above, on the host.
"""

import jax
import jax.numpy as jnp
import numpy as np


def count_correct(logits: jnp.ndarray, batch: dict, num_classes: int, num_groups: int) -> dict[str, jnp.ndarray]:
  """Sums over the batch: loss, correct and example counts overall, per class and per group.

  logits float [B, num_classes]; batch['label'], ['group'] int [B]; batch['mask'] bool [B] (optional).
  """
  mask = batch.get("mask", jnp.ones(logits.shape[0], bool)).astype(jnp.float32)
  labels = batch["label"]
  correct = (jnp.argmax(logits, -1) == labels).astype(jnp.float32) * mask
  loss = -jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], axis=-1)[:, 0]
  class_onehot = jax.nn.one_hot(labels, num_classes) * mask[:, None]
  group_onehot = jax.nn.one_hot(batch["group"], max(num_groups, 1)) * mask[:, None]  # group -1: all zeros
  return {
      "loss_sum": jnp.sum(loss * mask),
      "correct": jnp.sum(correct),
      "count": jnp.sum(mask),
      "class_correct": correct @ class_onehot,
      "class_count": jnp.sum(class_onehot, 0),
      "group_correct": correct @ group_onehot,
      "group_count": jnp.sum(group_onehot, 0),
  }


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
  return np.where(denominator > 0, numerator / np.maximum(denominator, 1), np.nan)


def summarize(counts: dict[str, np.ndarray], group_names: list[str] | None = None,
              group_weights: np.ndarray | None = None) -> dict:
  """Metrics of one split from the summed output of `count_correct` (see the module docstring)."""
  counts = {key: np.asarray(value, np.float64) for key, value in counts.items()}
  class_acc = _ratio(counts["class_correct"], counts["class_count"])
  group_acc = _ratio(counts["group_correct"], counts["group_count"])
  present = counts["group_count"] > 0
  names = group_names or [str(g) for g in range(len(group_acc))]
  result = {
      "loss": float(counts["loss_sum"] / max(counts["count"], 1)),
      "accuracy": float(counts["correct"] / max(counts["count"], 1)),
      "balanced_accuracy": float(np.nanmean(class_acc)) if np.any(counts["class_count"] > 0) else float("nan"),
      "worst_group_accuracy": float(np.min(group_acc[present])) if np.any(present) else None,
      "num_examples": int(counts["count"]),
      "groups": {name: {"accuracy": None if np.isnan(a) else float(a), "count": int(c)}
                 for name, a, c in zip(names, group_acc, counts["group_count"]) if len(group_acc)},
  }
  if group_weights is not None:
    weights = np.asarray(group_weights, np.float64) * present
    result["group_weighted_accuracy"] = float(np.nansum(group_acc * weights) / weights.sum())
  return result
