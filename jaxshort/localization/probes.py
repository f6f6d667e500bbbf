"""Linear probes of the label and the cue at each block's output, the representation-level view.

Features are a block's output: the value returned by the block's submodule (the top-level submodule named by the
block; for the head, the logits), captured with `nn.intercept_methods`, so any model whose blocks are submodules
works without the model's help. Spatial outputs are average-pooled over a `grid` x `grid` partition of the image
plane, then flattened. A probe is closed-form
ridge regression onto one-hot targets on standardized features, fit on the even-indexed examples of a set and
scored (argmax accuracy) on the odd-indexed ones. The label is probed on T_clean. The cue is probed on a set where
cue and label are independent (`cue_probe_set`: a (label, cue)-group-balanced subset of T_aligned and T_conflict
together), so a probe that reads only the label scores chance, 1/num_cues, for the cue. (On T_conflict alone the
cue is never the label: with 2 classes and 2 cues the cue is then 1 - label, and a label-only probe would score
100%.)
"""

import functools
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxshort.data.pipeline import normalize_images
from jaxshort.data.schema import Split


def pool_features(x: jnp.ndarray, grid: int) -> jnp.ndarray:
  """[B, H, W, C] -> [B, g * g * C] (means over a g x g partition, g = min(grid, H, W)); [B, D] unchanged."""
  if x.ndim == 2:
    return x
  x = x.reshape(x.shape[0], x.shape[1], x.shape[2], -1)
  height, width = x.shape[1:3]
  g = min(grid, height, width)
  rows = np.linspace(0, height, g + 1).round().astype(int)
  cols = np.linspace(0, width, g + 1).round().astype(int)
  cells = [x[:, rows[i]:rows[i + 1], cols[j]:cols[j + 1]].mean((1, 2)) for i in range(g) for j in range(g)]
  return jnp.concatenate(cells, -1)


def block_outputs(model: nn.Module, variables: dict, images: jnp.ndarray, blocks: Sequence[str]) -> dict:
  """{block: output array [B, ...]} of the top-level submodule of each block, for float images [B, H, W, C]."""
  outputs = {}

  def capture(next_fun, args, kwargs, context):
    out = next_fun(*args, **kwargs)
    path = context.module.scope.path if context.module.scope is not None else ()
    if context.method_name == "__call__" and len(path) == 1 and path[0] in blocks:
      outputs[path[0]] = out
    return out

  with nn.intercept_methods(capture):
    model.apply(variables, images, train=False)
  missing = [b for b in blocks if b not in outputs]
  if missing:
    raise ValueError(f"blocks {missing} are not top-level submodules of {type(model).__name__}")
  return outputs


@functools.lru_cache(maxsize=None)
def _features_program(model: nn.Module, blocks: tuple[str, ...], grid: int, normalization: str):
  def features(variables, images):
    outputs = block_outputs(model, variables, normalize_images(images, normalization), blocks)
    return {name: pool_features(outputs[name], grid) for name in blocks}
  return jax.jit(features)


def block_features(model: nn.Module, variables: dict, images: np.ndarray, blocks: Sequence[str], grid: int = 2,
                   batch_size: int = 500, input_normalization: str = "symmetric") -> dict[str, np.ndarray]:
  """{block: float32 [N, D_block]}: pooled outputs of every block for uint8 images [N, H, W, C], preprocessed by
  `input_normalization` (data.pipeline.normalize_images)."""
  program = _features_program(model, tuple(blocks), grid, input_normalization)
  chunks = [jax.device_get(program(variables, images[i:i + batch_size]))
            for i in range(0, len(images), batch_size)]
  return {name: np.concatenate([c[name] for c in chunks]) for name in blocks}


def ridge_probe_accuracy(features: np.ndarray, targets: np.ndarray, num_classes: int, ridge: float) -> float:
  """Held-out accuracy of a ridge probe: fit on rows 0, 2, 4, ..., scored on rows 1, 3, 5, ...

  features float [N, D]; targets int [N] in [0, num_classes).
  """
  x = np.asarray(features, np.float64)
  fit, held = x[0::2], x[1::2]
  mean, std = fit.mean(0), fit.std(0) + 1e-6
  fit, held = (fit - mean) / std, (held - mean) / std
  fit = np.concatenate([fit, np.ones((len(fit), 1))], 1)
  held = np.concatenate([held, np.ones((len(held), 1))], 1)
  onehot = np.eye(num_classes)[targets[0::2]]
  weights = np.linalg.solve(fit.T @ fit + ridge * np.eye(fit.shape[1]), fit.T @ onehot)
  return float(np.mean(np.argmax(held @ weights, 1) == targets[1::2]))


def cue_probe_set(aligned: Split, conflict: Split, seed: int) -> Split:
  """A (label, cue)-group-balanced subset of T_aligned and T_conflict together: the smallest group's size from
  every group present, drawn from `seed`, so that the cue carries no information about the label."""
  both = {key: np.concatenate([aligned[key], conflict[key]]) for key in aligned}
  groups = both["group"]
  present = np.unique(groups[groups >= 0])
  size = min(int(np.sum(groups == g)) for g in present)
  rng = np.random.default_rng([seed, 0xC0E])
  index = np.concatenate([rng.choice(np.flatnonzero(groups == g), size, replace=False) for g in present])
  index = rng.permutation(index)  # mixed, so that the even/odd fit/score split holds every group
  return {key: value[index] for key, value in both.items()}


def probe_accuracies(model: nn.Module, variables: dict, blocks: Sequence[str], label_set: Split, cue_set: Split,
                     num_classes: int, num_cues: int, ridge: float = 10.0, grid: int = 2,
                     input_normalization: str = "symmetric") -> dict:
  """{label: [K], cue: [K]}: held-out probe accuracy for the label (on `label_set`) and the cue (on `cue_set`)
  at the output of each of the K blocks."""
  label_features = block_features(model, variables, label_set["image"], blocks, grid,
                                  input_normalization=input_normalization)
  cue_features = block_features(model, variables, cue_set["image"], blocks, grid,
                                input_normalization=input_normalization)
  return {
      "label": [ridge_probe_accuracy(label_features[b], label_set["label"], num_classes, ridge) for b in blocks],
      "cue": [ridge_probe_accuracy(cue_features[b], cue_set["cue"], num_cues, ridge) for b in blocks],
  }
