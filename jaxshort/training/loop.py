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
from jaxshort.config import DATA_PLACEMENTS
from jaxshort.data.pipeline import chunk_indices, chunked, steps_per_epoch
from jaxshort.errors import NonFiniteError, UserError
from jaxshort.training import sharding
from jaxshort.training.checkpoint import Checkpointer
from jaxshort.training.metrics import summarize
from jaxshort.training.optimizers import make_optimizer
from jaxshort.training.progress import Progress
from jaxshort.training.state import TrainState, create_train_state
from jaxshort.training.steps import (AUGMENTATIONS, COMPUTE_DTYPES, Objective, cross_entropy_objective,
                                     jit_eval_split, make_train_chunk)
from jaxshort.training.workdir import MetricsLog

# 'auto' holds a training split of up to this many bytes on the devices (every offline dataset; CelebA at 224
# pixels, ~24 GB, streams from the host).
DEVICE_DATA_BYTES = 2 * 2**30


def evaluate(state: TrainState, split: dict, dataset: data_lib.Dataset, mesh, batch_size: int,
             chunks: dict | None = None) -> dict:
  """Metrics (see training/metrics.py) of `state` on a whole split, in one program over its padded chunks of
  `batch_size` examples (`chunks`: the split already placed by `place_eval_split`)."""
  if chunks is None:
    chunks = place_eval_split(split, mesh, batch_size)
  totals = jit_eval_split(dataset.num_classes, dataset.num_groups)(state, chunks)
  names = [dataset.group_name(g) for g in range(dataset.num_groups)]
  return summarize(jax.device_get(totals), names)


def place_eval_split(split: dict, mesh, batch_size: int) -> dict:
  """A split as chunks of `batch_size` examples on the devices, each chunk split over them; a split smaller than
  `batch_size` is one chunk of its own size (rounded up to the devices), not padded to it."""
  whole = -(-len(split["label"]) // mesh.size) * mesh.size
  return sharding.place(chunked(split, min(batch_size, whole)), sharding.batch_sharding(mesh, leading=1))


def evaluate_splits(state, dataset, mesh, batch_size, splits, placed: dict | None = None) -> dict[str, dict]:
  placed = placed or {}
  return {name: evaluate(state, dataset.splits[name], dataset, mesh, batch_size, placed.get(name))
          for name in splits}


def first_non_finite(first_step: int, metrics: dict) -> tuple[int, list[str]] | None:
  """(step, names) of the first step whose training metrics (loss, gradient or parameter norm, ...; each
  stacked over a chunk of steps starting at `first_step`) are not all finite; None if every step's are."""
  finite = {key: np.isfinite(np.asarray(value)).reshape(len(value), -1).all(1) for key, value in metrics.items()}
  bad_steps = ~np.all(np.stack(list(finite.values())), axis=0)
  if not bad_steps.any():
    return None
  first = int(np.argmax(bad_steps))
  return first_step + first, sorted(key for key, ok in finite.items() if not ok[first])


def check_finite(first_step: int, metrics: dict) -> None:
  """Raises NonFiniteError naming the first step of a chunk (stacked metrics, see `first_non_finite`) whose
  training metrics are NaN or inf."""
  bad = first_non_finite(first_step, metrics)
  if bad:
    step, names = bad
    raise NonFiniteError(f"training diverged: {', '.join(names)} is not finite at step {step}; the last "
                         f"good checkpoint is kept; lower optimizer.learning_rate or set optimizer.grad_clip_norm")


def data_on_device(placement: str, split: dict) -> bool:
  """Whether the training split is held on the devices ('device'), streamed from the host a chunk of batches at
  a time ('host'), or, for 'auto', held on the devices when its copies on this process's devices (one each: the
  split is replicated) take at most DEVICE_DATA_BYTES."""
  if placement not in DATA_PLACEMENTS:
    raise UserError(f"data_placement must be one of {', '.join(DATA_PLACEMENTS)}, got {placement!r}")
  if placement == "auto":
    size = sum(np.asarray(value).nbytes for value in split.values())
    return size * jax.local_device_count() <= DEVICE_DATA_BYTES
  return placement == "device"


def next_stop(step: int, config: ml_collections.ConfigDict) -> int:
  """The first step after `step` at which the loop logs, evaluates, checkpoints or ends: where a chunk of steps
  run in one dispatch ends."""
  everies = (config.log_every_steps, config.eval_every_steps, config.checkpoint_every_steps)
  return min([config.num_steps] + [(step // every + 1) * every for every in everies])


def training_chunk(config: ml_collections.ConfigDict, mesh, loss_fn: Objective = cross_entropy_objective):
  """The jitted chunk of steps of `loss_fn` with the config's `compute_dtype` and `augment`
  (steps.make_train_chunk), each batch split over the mesh; scanned, or one step per dispatch where the model
  runs faster so (sharding.scan_steps)."""
  if config.compute_dtype not in COMPUTE_DTYPES:
    raise UserError(f"compute_dtype must be one of {', '.join(COMPUTE_DTYPES)}, got {config.compute_dtype!r}")
  if config.augment not in AUGMENTATIONS:
    raise UserError(f"augment must be one of {', '.join(AUGMENTATIONS)}, got {config.augment!r}")
  return make_train_chunk(loss_fn, config.compute_dtype, config.augment, sharding.batch_sharding(mesh),
                          sharding.scan_steps(config.model.name))


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
  keep the best state for model selection: it must copy what it keeps (`jax.device_get`), since the next chunk
  of steps takes over (donates) the state's arrays.

  The steps between two stops (a log, an evaluation, a checkpoint or the end: `next_stop`) run as one program,
  with one host sync at its end. The training split is held on the devices, or streamed a chunk of batches at a
  time (`config.data_placement`); batch k is `pipeline.batch_indices(k)` either way. With streaming, the next
  chunk's batches are built and sent while the current chunk trains.
  """
  os.makedirs(run_dir, exist_ok=True)
  mesh = sharding.data_mesh()
  sharding.check_batch_size(config.batch_size, mesh)
  split = dataset.splits[train_split or dataset.roles["train"]]
  num_examples = len(split["label"])
  steps_per_epoch(num_examples, config.batch_size)
  if config.num_steps < 1:
    raise UserError(f"num_steps must be >= 1, got {config.num_steps}")
  chunk_fn = training_chunk(config, mesh, loss_fn)
  on_device = data_on_device(config.data_placement, split)

  if variables is None:
    variables = models.initial_variables(config.model, model, jax.random.key(config.seed), dataset.image_shape)
  if tx is None:
    tx = make_optimizer(config.optimizer, config.num_steps)
  state = create_train_state(model, variables, tx, method_state, models.input_normalization(config.model))
  state = sharding.replicate(state, mesh)
  checkpoints = Checkpointer(os.path.join(run_dir, "checkpoints"))
  try:
    state = checkpoints.restore_latest(state)
    start = int(jax.device_get(state.step))
    if start:
      print(f"[{name}] resuming from the checkpoint at step {start} in {run_dir}", file=sys.stderr, flush=True)
    log = MetricsLog(os.path.join(run_dir, "metrics.jsonl"))
    log.truncate_after(start)
    if start < config.num_steps:
      state = train_steps(config, dataset, split, state, chunk_fn, checkpoints, log, start, mesh,
                          config.seed if data_seed is None else data_seed, on_device, name, on_eval)
  except BaseException:
    checkpoints.close(quietly=True)  # the error in flight is the one to report
    raise
  checkpoints.close()  # waits for the last save
  return state


def train_steps(config, dataset, split, state, chunk_fn, checkpoints, log, start, mesh, seed, on_device, name,
                on_eval) -> TrainState:
  """The loop of `train_classifier` from step `start` to `config.num_steps`."""
  rng = jax.random.fold_in(jax.random.key(config.seed), 1)
  num_examples = len(split["label"])
  eval_splits = [s for s in dataset.splits if s != dataset.roles["train"]]
  placed_eval = ({s: place_eval_split(dataset.splits[s], mesh, config.eval_batch_size) for s in eval_splits}
                 if on_device else {})  # streaming: each evaluation places its split and lets it go
  steps_sharding = sharding.batch_sharding(mesh, leading=1)
  data = sharding.place(split, sharding.replicated(mesh)) if on_device else None

  def chunk_input(first: int) -> tuple[int, object]:
    """(last step, the placed input) of the chunk after step `first`: steps first+1 .. last."""
    last = next_stop(first, config)
    index = chunk_indices(num_examples, config.batch_size, seed, first, last - first)
    steps = index if on_device else {**{k: v[index] for k, v in split.items()}, "index": index}
    return last, sharding.place(steps, steps_sharding)

  progress = Progress(config.num_steps, start, config.progress_every_seconds, name)
  step = start
  end, steps = chunk_input(step)
  while step < config.num_steps:
    state, metrics = chunk_fn(state, data, steps, rng)
    if end < config.num_steps:
      next_end, next_steps = chunk_input(end)  # built and sent while this chunk trains
    metrics = jax.device_get(metrics)  # the one host sync of a chunk
    check_finite(step + 1, metrics)    # before any checkpoint of this chunk: the last good one is kept
    step = end
    is_last = step == config.num_steps
    if step % config.log_every_steps == 0 or is_last:
      last = {k: float(v[-1]) for k, v in metrics.items()}
      log.write(step, "train", last)
      progress.update(step, {"loss": last["loss"], "acc": last["accuracy"]})
    if step % config.eval_every_steps == 0 or is_last:
      results = evaluate_splits(state, dataset, mesh, config.eval_batch_size, eval_splits, placed_eval)
      for split_name, result in results.items():
        log.write(step, split_name, {k: v for k, v in result.items() if k != "groups"})
      if on_eval is not None:
        on_eval(step, state, results)
    if step % config.checkpoint_every_steps == 0 or is_last:
      checkpoints.save(state)  # asynchronous: written while the next chunk trains
    if not is_last:
      end, steps = next_end, next_steps
  return state

  rng = jax.random.fold_in(jax.random.key(config.seed), 1)
  seed = config.seed if data_seed is None else data_seed
  eval_splits = [s for s in dataset.splits if s != dataset.roles["train"]]
  placed_eval = {s: place_eval_split(dataset.splits[s], mesh, config.eval_batch_size) for s in eval_splits}
  steps_sharding = sharding.batch_sharding(mesh, leading=1)
  data = sharding.place(split, sharding.replicated(mesh)) if on_device else None
  progress = Progress(config.num_steps, start, config.progress_every_seconds, name)
  step = start
  try:
    while step < config.num_steps:
      end = next_stop(step, config)
      index = chunk_indices(num_examples, config.batch_size, seed, step, end - step)  # batches of steps step+1..end
      steps = index if on_device else {**{k: v[index] for k, v in split.items()}, "index": index}
      state, metrics = chunk_fn(state, data, sharding.place(steps, steps_sharding), rng)
      metrics = jax.device_get(metrics)  # the one host sync of a chunk
      check_finite(step + 1, metrics)    # before any checkpoint of this chunk: the last good one is kept
      step = end
      is_last = step == config.num_steps
      if step % config.log_every_steps == 0 or is_last:
        last = {k: float(v[-1]) for k, v in metrics.items()}
        log.write(step, "train", last)
        progress.update(step, {"loss": last["loss"], "acc": last["accuracy"]})
      if step % config.eval_every_steps == 0 or is_last:
        results = evaluate_splits(state, dataset, mesh, config.eval_batch_size, eval_splits, placed_eval)
        for split_name, result in results.items():
          log.write(step, split_name, {k: v for k, v in result.items() if k != "groups"})
        if on_eval is not None:
          on_eval(step, state, results)
      if step % config.checkpoint_every_steps == 0 or is_last:
        checkpoints.save(state)  # asynchronous: written while the next chunk trains
  finally:
    checkpoints.close()          # waits for the last save
  return state
