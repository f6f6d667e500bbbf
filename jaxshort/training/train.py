"""Training and evaluation of a classifier: the `train` experiment, and the loop other experiments reuse.

Reads top to bottom: `evaluate` one split, `train_classifier` (init or resume, loop, checkpoint, log),
`train_and_evaluate` (the whole experiment: data, model, training, results.json, figure).
"""

import functools
import os
import sys
import time

import jax
import ml_collections
import numpy as np
import optax

from jaxshort import data as data_lib
from jaxshort import models
from jaxshort.data.pipeline import eval_batches, steps_per_epoch, train_batches
from jaxshort.errors import NonFiniteError, UserError
from jaxshort.report.figures import plot_training
from jaxshort.training import sharding
from jaxshort.training.checkpoint import Checkpointer
from jaxshort.training.metrics import summarize
from jaxshort.training.optimizers import make_optimizer
from jaxshort.training.progress import Progress
from jaxshort.training.state import TrainState, create_train_state, num_params
from jaxshort.training.steps import AUGMENTATIONS, COMPUTE_DTYPES, jit_eval_step, jit_train_step
from jaxshort.training.workdir import MetricsLog, write_json


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


def compute_dtype(config: ml_collections.ConfigDict) -> str:
  """`config.compute_dtype` ('float32', the default, or 'bfloat16': mixed precision, see steps.py), checked."""
  dtype = config.get("compute_dtype", "float32")
  if dtype not in COMPUTE_DTYPES:
    raise UserError(f"compute_dtype must be one of {', '.join(COMPUTE_DTYPES)}, got {dtype!r}")
  return dtype


def augmentation(config: ml_collections.ConfigDict) -> str:
  """`config.augment` ('none', the default, or 'crop_flip': see steps.py), checked."""
  augment = config.get("augment", "none")
  if augment not in AUGMENTATIONS:
    raise UserError(f"augment must be one of {', '.join(AUGMENTATIONS)}, got {augment!r}")
  return augment


def train_classifier(config: ml_collections.ConfigDict, dataset: data_lib.Dataset, model, run_dir: str,
                     variables: dict | None = None, train_split: str | None = None,
                     data_seed: int | None = None, name: str = "train",
                     tx: optax.GradientTransformation | None = None, step_fn=None, on_eval=None) -> TrainState:
  """Trains `model` on `train_split` (default: the dataset's train role) for `config.num_steps` steps.

  Starts from `variables` (theta_0; default: a fresh init from `config.seed`), or resumes from the latest
  checkpoint in `run_dir/checkpoints`. Batch order comes from `data_seed` (default `config.seed`) and the step.
  `tx` replaces the optimizer built from `config.optimizer` (for block-wise freezing or learning rates).
  Logs to `run_dir/metrics.jsonl` and evaluates the dataset's other splits every `config.eval_every_steps`.
  `step_fn(state, batch, rng)` replaces the cross-entropy step (see steps.make_train_step); `on_eval(step, state,
  {split: metrics})` is called after each evaluation, e.g. to keep the best state for model selection.
  """
  os.makedirs(run_dir, exist_ok=True)
  mesh = sharding.data_mesh()
  sharding.check_batch_size(config.batch_size, mesh)
  split = dataset.splits[train_split or dataset.roles["train"]]
  steps_per_epoch(len(split["label"]), config.batch_size)
  if config.num_steps < 1:
    raise UserError(f"num_steps must be >= 1, got {config.num_steps}")
  if step_fn is None:
    step_fn = functools.partial(jit_train_step, compute_dtype=compute_dtype(config), augment=augmentation(config))

  if variables is None:
    variables = models.initial_variables(config.model, model, jax.random.key(config.seed), dataset.image_shape)
  if tx is None:
    tx = make_optimizer(config.optimizer, config.num_steps)
  state = sharding.replicate(create_train_state(model, variables, tx), mesh)
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
  progress = Progress(config.num_steps, start, config.get("progress_every_seconds", 5.0), name)
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


def result_summary(dataset: data_lib.Dataset, split_metrics: dict[str, dict]) -> dict:
  """The headline numbers: in- and out-of-distribution accuracy, worst-group accuracy on the OOD split."""
  roles = dataset.roles
  ood = split_metrics.get(roles.get("out_of_distribution"), {})
  return {
      "in_distribution_accuracy": split_metrics.get(roles.get("in_distribution"), {}).get("accuracy"),
      "out_of_distribution_accuracy": ood.get("accuracy"),
      "out_of_distribution_worst_group_accuracy": ood.get("worst_group_accuracy"),
      "validation_balanced_accuracy": split_metrics.get(roles.get("validation"), {}).get("balanced_accuracy"),
  }


def environment() -> dict:
  return {"jax": jax.__version__, "backend": jax.default_backend(), "num_devices": jax.device_count(),
          "num_processes": jax.process_count(), "devices": [str(d) for d in jax.devices()]}


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """The `train` experiment: trains one classifier and writes results.json and training.png into `workdir`."""
  t0 = time.perf_counter()
  dataset = data_lib.build_dataset(config.dataset, config.seed)
  model = models.build_model(config.model, dataset.num_classes)
  state = train_classifier(config, dataset, model, workdir)
  split_metrics = evaluate_splits(state, dataset, sharding.data_mesh(), config.eval_batch_size, dataset.splits)
  results = {
      "experiment": "train",
      "method": "erm",
      "seed": config.seed,
      "summary": result_summary(dataset, split_metrics),
      "metrics": split_metrics,
      "dataset": dataset.describe(),
      "model": {"name": config.model.name, "blocks": list(model.blocks), "num_params": num_params(state.params)},
      "training": {"steps": config.num_steps, "wall_time_s": time.perf_counter() - t0},
      "environment": environment(),
  }
  write_json(os.path.join(workdir, "results.json"), results)
  plot_training(MetricsLog(os.path.join(workdir, "metrics.jsonl")).read(), split_metrics,
                os.path.join(workdir, "training.png"), title=f"{dataset.name} / {config.model.name} / ERM")
  return results
