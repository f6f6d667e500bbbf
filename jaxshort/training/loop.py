"""The training loop every run uses, and evaluation of a whole split.

Reads top to bottom: `evaluate` one split, `check_finite`, `train_classifier` (init or resume, loop, checkpoint,
log). The loop draws no figures and writes no results: the experiments (jaxshort/experiments/) do.
"""

import os
import sys

import jax
import ml_collections
import numpy as np
import optax

from jaxshort import data as data_lib
from jaxshort import models
from jaxshort.data.pipeline import eval_batches, steps_per_epoch, train_batches
from jaxshort.errors import NonFiniteError, UserError
from jaxshort.training import sharding
from jaxshort.training.checkpoint import Checkpointer
from jaxshort.training.metrics import summarize
from jaxshort.training.optimizers import make_optimizer
from jaxshort.training.progress import Progress
from jaxshort.training.state import TrainState, create_train_state
from jaxshort.training.steps import (AUGMENTATIONS, COMPUTE_DTYPES, Objective, cross_entropy_objective,
                                     jit_eval_step, make_train_step)
from jaxshort.training.workdir import MetricsLog


def evaluate(state: TrainState, split: dict, dataset: data_lib.Dataset, mesh, batch_size: int) -> dict:
  """Metrics (see training/metrics.py) of `state` on a whole split, in padded batches of `batch_size`."""
  step = jit_eval_step(dataset.num_classes, dataset.num_groups)
  totals = None
  for batch in eval_batches(split, batch_size):
    counts = step(state, sharding.shard_batch(batch, mesh))
    totals = counts if totals is None else jax.tree.map(lambda a, b: a + b, totals, counts)
  names = [dataset.group_name(g) for g in range(dataset.num_groups)]
  return summarize(jax.device_get(totals), names)


def evaluate_splits(state, dataset, mesh, batch_size, splits) -> dict[str, dict]:
  return {name: evaluate(state, dataset.splits[name], dataset, mesh, batch_size) for name in splits}


def check_finite(step: int, metrics: dict) -> None:
  """Raises NonFiniteError naming `step` if a training metric (loss, gradient or parameter norm) is NaN or inf."""
  values = jax.device_get(metrics)
  bad = [k for k, v in values.items() if not np.all(np.isfinite(v))]
  if bad:
    raise NonFiniteError(f"training diverged: {', '.join(sorted(bad))} is not finite at step {step}; the last "
                         f"good checkpoint is kept; lower optimizer.learning_rate or set optimizer.grad_clip_norm")


def training_step(config: ml_collections.ConfigDict, loss_fn: Objective = cross_entropy_objective):
  """The jitted step of `loss_fn` with the config's `compute_dtype` and `augment` (steps.make_train_step)."""
  if config.compute_dtype not in COMPUTE_DTYPES:
    raise UserError(f"compute_dtype must be one of {', '.join(COMPUTE_DTYPES)}, got {config.compute_dtype!r}")
  if config.augment not in AUGMENTATIONS:
    raise UserError(f"augment must be one of {', '.join(AUGMENTATIONS)}, got {config.augment!r}")
  return make_train_step(loss_fn, config.compute_dtype, config.augment)


def train_classifier(config: ml_collections.ConfigDict, dataset: data_lib.Dataset, model, run_dir: str,
                     variables: dict | None = None, train_split: str | None = None,
                     data_seed: int | None = None, name: str = "train",
                     tx: optax.GradientTransformation | None = None,
                     loss_fn: Objective = cross_entropy_objective, method_state=None, on_eval=None) -> TrainState:
  """Trains `model` on `train_split` (default: the dataset's train role) for `config.num_steps` steps.

  Starts from `variables` (theta_0; default: a fresh init from `config.seed`) and `method_state` (the
  objective's initial state, default {}), or resumes from the latest checkpoint in `run_dir/checkpoints`. Batch
  order comes from `data_seed` (default `config.seed`) and the step. `tx` replaces the optimizer built from
  `config.optimizer` (for block-wise freezing or learning rates). `loss_fn` is the objective (steps.py; default
  cross-entropy). Logs to `run_dir/metrics.jsonl` and evaluates the dataset's other splits every
  `config.eval_every_steps`; `on_eval(step, state, {split: metrics})` is called after each evaluation, e.g. to
  keep the best state for model selection.
  """
  os.makedirs(run_dir, exist_ok=True)
  mesh = sharding.data_mesh()
  sharding.check_batch_size(config.batch_size, mesh)
  split = dataset.splits[train_split or dataset.roles["train"]]
  steps_per_epoch(len(split["label"]), config.batch_size)
  if config.num_steps < 1:
    raise UserError(f"num_steps must be >= 1, got {config.num_steps}")
  step_fn = training_step(config, loss_fn)

  if variables is None:
    variables = models.initial_variables(config.model, model, jax.random.key(config.seed), dataset.image_shape)
  if tx is None:
    tx = make_optimizer(config.optimizer, config.num_steps)
  state = create_train_state(model, variables, tx, method_state, models.input_normalization(config.model))
  state = sharding.replicate(state, mesh)
  checkpoints = Checkpointer(os.path.join(run_dir, "checkpoints"))
  state = checkpoints.restore_latest(state)
  start = int(jax.device_get(state.step))
  if start:
    print(f"[{name}] resuming from the checkpoint at step {start} in {run_dir}", file=sys.stderr, flush=True)
  log = MetricsLog(os.path.join(run_dir, "metrics.jsonl"))
  log.truncate_after(start)
  if start >= config.num_steps:
    checkpoints.close()
    return state

  rng = jax.random.fold_in(jax.random.key(config.seed), 1)
  eval_splits = [s for s in dataset.splits if s != dataset.roles["train"]]
  progress = Progress(config.num_steps, start, config.progress_every_seconds, name)
  batches = train_batches(split, config.batch_size, config.seed if data_seed is None else data_seed, start)
  unchecked = None  # the previous step's metrics: checked while the current step runs, so the loop never stalls
  for step in range(start + 1, config.num_steps + 1):
    state, metrics = step_fn(state, sharding.shard_batch(next(batches), mesh), rng)
    if unchecked is not None:
      check_finite(*unchecked)
    unchecked = (step, metrics)
    is_last = step == config.num_steps
    if step % config.log_every_steps == 0 or is_last:
      check_finite(step, metrics)
      metrics = {k: float(v) for k, v in jax.device_get(metrics).items()}
      log.write(step, "train", metrics)
      progress.update(step, {"loss": metrics["loss"], "acc": metrics["accuracy"]})
    if step % config.eval_every_steps == 0 or is_last:
      results = evaluate_splits(state, dataset, mesh, config.eval_batch_size, eval_splits)
      for split_name, result in results.items():
        log.write(step, split_name, {k: v for k, v in result.items() if k != "groups"})
      if on_eval is not None:
        on_eval(step, state, results)
    if step % config.checkpoint_every_steps == 0 or is_last:
      check_finite(step, metrics)  # never save a diverged state over a good one
      checkpoints.save(state)
  checkpoints.close()
  return state
