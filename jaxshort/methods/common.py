"""What every method shares: building the backbone, one training run of an objective with model selection,
and predictions on a split.

Model selection (`config.selection`): 'best_validation' keeps the evaluation with the highest class-balanced
accuracy on the validation split (in-distribution, like the training data; no group labels); 'best_worst_group'
the one with the highest worst-group validation accuracy (early stopping on validation group labels, as GroupDRO
and JTT do; `methods.uses_group_labels` marks such runs); 'last' the final state. The selected parameters and
batch statistics are saved next to the checkpoints (`best.msgpack`, `best.json`), so a resumed run keeps its
choice.
"""

import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import serialization

from jaxshort import models
from jaxshort.config import SELECTION_RULES, with_overrides
from jaxshort.errors import UserError
from jaxshort.data import Dataset
from jaxshort.data.pipeline import eval_batches, normalize_images
from jaxshort.training.loop import train_classifier
from jaxshort.training.state import TrainState
from jaxshort.training.workdir import is_primary, read_json, write_json


def build_backbone(config: ml_collections.ConfigDict, dataset: Dataset, name: str | None = None) -> nn.Module:
  """The model of `config.model` (or the registered model `name` with the same settings) for `dataset`'s images."""
  model_config = ml_collections.ConfigDict(config.model.to_dict())
  if name is not None:
    model_config.name = name
  return models.build_model(model_config, dataset.num_classes).clone(image_shape=tuple(dataset.image_shape))


class BestByValidation:
  """`on_eval` callback of `train_classifier`: keeps the parameters with the best validation `metric`
  (balanced accuracy, which needs no group labels, or worst-group accuracy, which does)."""

  def __init__(self, run_dir: str, validation_split: str, metric: str = "balanced_accuracy"):
    self.params_path = os.path.join(run_dir, "best.msgpack")
    self.info_path = os.path.join(run_dir, "best.json")
    self.split, self.metric = validation_split, metric
    self.info = read_json(self.info_path) if os.path.exists(self.info_path) else None
    self.selected = None  # the serialized variables of the chosen evaluation, once chosen in this process
    if self.info is not None and self.info.get("metric") != f"validation {metric}":
      self.info = None  # chosen by another metric (the selection rule changed): choose afresh

  def __call__(self, step: int, state: TrainState, results: dict) -> None:
    score = results[self.split][self.metric]
    if self.info is None or score > self.info["score"]:
      keep = ("accuracy", "balanced_accuracy", "worst_group_accuracy")
      self.info = {"step": int(step), "metric": f"validation {self.metric}", "score": float(score),
                   "metrics": {name: {k: float(m[k]) for k in keep if k in m} for name, m in results.items()}}
      self.selected = serialization.to_bytes(jax.device_get(selected_variables(state)))
      if is_primary():  # every process holds the same choice in memory; process 0 keeps it for a resume
        with open(self.params_path + ".tmp", "wb") as f:
          f.write(self.selected)
        os.replace(self.params_path + ".tmp", self.params_path)
        write_json(self.info_path, self.info)

  def best_state(self, state: TrainState) -> TrainState:
    """`state` with the selected parameters and batch statistics (unchanged if nothing was selected)."""
    if self.info is None:
      return state
    current = selected_variables(state)
    if self.selected is None:  # chosen before a resume: read back
      with open(self.params_path, "rb") as f:
        self.selected = f.read()
    saved = serialization.msgpack_restore(self.selected)
    if set(saved) != set(current):  # written before batch statistics were kept: the parameters alone
      current, saved = {"params": current["params"]}, {"params": saved}
    selected = serialization.from_state_dict(jax.device_get(current), saved)
    return state.replace(**jax.device_put(selected, jax.tree.map(lambda x: x.sharding, current)))


def selected_variables(state: TrainState) -> dict:
  """What model selection keeps of a state: the parameters and the batch statistics they were evaluated with."""
  return {"params": state.params, "batch_stats": state.batch_stats}


SELECTION_METRICS = {"best_validation": "balanced_accuracy", "best_worst_group": "worst_group_accuracy",
                     "last": "balanced_accuracy"}  # 'last' still tracks the best-validation evaluation


def fit(config: ml_collections.ConfigDict, dataset: Dataset, model: nn.Module, run_dir: str, loss_fn,
        num_steps: int | None = None, select: bool | None = None, name: str = "train",
        method_state=None, select_metric: str | None = None) -> tuple[TrainState, dict]:
  """Trains `model` on the objective `loss_fn` (training/steps.py), starting from `method_state`, for
  `num_steps` (default `config.num_steps`).

  Returns the selected state and {'selected_step', ...}: the evaluation with the best validation
  `select_metric`, or the last state if `select` is False. `select` and `select_metric` default to what
  `config.selection` says (module docstring). The best evaluation is tracked either way: `best_validation` in
  the returned dict holds its step, score and every split's metrics at that step, so one run reports both rules.
  """
  if config.selection not in SELECTION_RULES:
    raise UserError(f"selection must be one of {', '.join(SELECTION_RULES)}, got {config.selection!r}")
  if select is None:
    select = config.selection != "last"
  if select_metric is None:
    select_metric = SELECTION_METRICS[config.selection]
  if num_steps is not None and num_steps != config.num_steps:
    config = with_overrides(config, {"num_steps": num_steps})
  variables = models.initial_variables(config.model, model, jax.random.key(config.seed), dataset.image_shape)
  selector = BestByValidation(run_dir, dataset.roles["validation"], select_metric)
  state = train_classifier(config, dataset, model, run_dir, variables=variables, name=name, loss_fn=loss_fn,
                           method_state=method_state, on_eval=selector)
  best = dict(selector.info or {})
  if not select:
    return state, {"rule": "last", "selected_step": int(jax.device_get(state.step)), "best_validation": best}
  return selector.best_state(state), {"rule": f"best validation {select_metric}", "selected_step": best.get("step"),
                                      "best_validation": best}


def predict(state: TrainState, split: dict, batch_size: int, method=None) -> np.ndarray:
  """Outputs of `state.apply_fn` on a split's images, in order: [N, ...]; logits by default, or those of
  `method` (a model method's name, or a function (module, images) -> array)."""
  kwargs = {"method": method} if method else {}
  normalization = state.input_normalization
  apply = jax.jit(lambda variables, images: state.apply_fn(variables, normalize_images(images, normalization),
                                                           **kwargs))
  outputs = [np.asarray(apply(state.variables(), jnp.asarray(batch["image"])))[batch["mask"]]
             for batch in eval_batches(split, batch_size)]
  return np.concatenate(outputs)
