"""The one training step, for every objective, and the evaluation step: pure functions of (state, batch, rng).

`make_train_step(loss_fn, compute_dtype, augment)` gives the jitted step that ERM, every method and every
localization run train with, and `make_train_chunk` the same step scanned over many batches in one dispatch
(what the training loop runs). The step does, in one place, what every objective needs:

- augmentation (`augment='crop_flip'`: the standard CIFAR random 4-pixel-padded crop and horizontal flip,
  data/augment.py) on the uint8 batch, keyed by (seed, step), so a resumed run and both runs of a localization
  pair see the same crops and flips;
- the image preprocessing the model expects (`data.pipeline.normalize_images`, by `state.input_normalization`);
- mixed precision (`compute_dtype='bfloat16'`, for GPUs and TPUs): the objective sees a bfloat16 copy of the
  parameters and images, and `apply_model` returns float32 outputs, so the loss, the gradients, the parameters,
  the optimizer state and the batch statistics stay float32;
- batch statistics (batch norm) and the method's own state, both carried in the train state.

An objective is `loss_fn(params, batch_stats, method_state, batch, rng, apply_fn) -> (loss, (new_batch_stats,
new_method_state, metrics))`; it calls the model through `apply_model`. Randomness is `fold_in(rng, state.step)`,
so it depends on (seed, step) alone and a resumed run repeats it exactly. Per-example weights
(`batch['weight']`, float [B]) are honoured by `classification_loss` where present.
"""

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from jaxshort.config import AUGMENTATIONS, COMPUTE_DTYPES
from jaxshort.data.augment import crop_and_flip
from jaxshort.data.pipeline import normalize_images
from jaxshort.training.metrics import count_correct
from jaxshort.training.state import TrainState

Objective = Callable[..., tuple[jnp.ndarray, tuple[Any, Any, dict]]]


def classification_loss(logits: jnp.ndarray, batch: dict) -> jnp.ndarray:
  """Mean cross-entropy, weighted by batch['weight'] where given. logits [B, C] -> scalar."""
  losses = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"])
  weights = batch.get("weight")
  if weights is None:
    return losses.mean()
  return jnp.sum(losses * weights) / jnp.maximum(jnp.sum(weights), 1e-12)


def batch_accuracy(logits: jnp.ndarray, labels: jnp.ndarray) -> jnp.ndarray:
  """Fraction of rows whose argmax is the label: logits [B, C], labels [B] -> scalar."""
  return jnp.mean(jnp.argmax(logits, -1) == labels)


def augment_images(images: jnp.ndarray, rng: jax.Array, augment: str) -> jnp.ndarray:
  """uint8 images [B, H, W, C] augmented as `augment` names ('none' returns them unchanged)."""
  return crop_and_flip(images, rng) if augment == "crop_flip" else images


def cast_floating(tree, dtype):
  """`tree` with every floating-point leaf cast to `dtype` (integer leaves unchanged)."""
  return jax.tree.map(lambda x: x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x, tree)


def apply_model(apply_fn, params, batch_stats, inputs: jnp.ndarray, rng: jax.Array, method=None):
  """The model in training mode on `inputs`: (float32 outputs, new batch statistics).

  Batch statistics are updated where the model has them (returned unchanged otherwise); dropout draws from
  `rng`; `method` names a model method (e.g. LfF's 'both'), None for `__call__`; either takes `train`."""
  variables = {"params": params, **({"batch_stats": batch_stats} if batch_stats else {})}
  kwargs = {"train": True, **({"method": method} if method else {})}
  if batch_stats:
    outputs, updates = apply_fn(variables, inputs, mutable=["batch_stats"], rngs={"dropout": rng}, **kwargs)
    batch_stats = updates["batch_stats"]
  else:
    outputs = apply_fn(variables, inputs, rngs={"dropout": rng}, **kwargs)
  return cast_floating(outputs, jnp.float32), batch_stats


def float32_outputs(apply_fn):
  """`apply_fn` with floating outputs cast to float32, for objectives that call the model's methods directly
  (the VAE objectives): under mixed precision their losses are then computed in float32."""
  return lambda variables, *args, **kwargs: cast_floating(apply_fn(variables, *args, **kwargs), jnp.float32)


def stateless_objective(loss_fn) -> Objective:
  """The objective of `loss_fn(params, apply_fn, batch, rng) -> (loss, metrics)`, for models without batch
  statistics and methods without state (the VAE objectives); `apply_fn` returns float32 outputs."""

  def objective(params, batch_stats, method_state, batch, rng, apply_fn):
    loss, metrics = loss_fn(params, float32_outputs(apply_fn), batch, rng)
    return loss, (batch_stats, method_state, metrics)

  return objective


def cross_entropy_objective(params, batch_stats, method_state, batch: dict, rng: jax.Array, apply_fn):
  """ERM: the (weighted) cross-entropy of the model's logits."""
  logits, batch_stats = apply_model(apply_fn, params, batch_stats, batch["image"], rng)
  return classification_loss(logits, batch), (batch_stats, method_state,
                                               {"accuracy": batch_accuracy(logits, batch["label"])})


def train_step(state: TrainState, batch: dict, rng: jax.Array, loss_fn: Objective = cross_entropy_objective,
               compute_dtype: str = "float32", augment: str = "none") -> tuple[TrainState, dict]:
  """One optimizer step of `loss_fn` on `batch` (uint8 images, int labels); see the module docstring.
  Returns the new state and scalar metrics: the objective's, plus `loss`, `grad_norm` and `param_norm`."""
  rng = jax.random.fold_in(rng, state.step)
  augment_rng, rng = jax.random.split(rng)
  images = normalize_images(augment_images(batch["image"], augment_rng, augment), state.input_normalization)
  images = images.astype(compute_dtype)
  batch = {**batch, "image": images, "step": state.step}  # the step, for objectives with a schedule

  def objective(params):  # batch statistics stay float32, as the parameters the optimizer holds
    return loss_fn(cast_floating(params, compute_dtype), state.batch_stats, state.method_state, batch, rng,
                   state.apply_fn)

  (loss, (batch_stats, method_state, metrics)), grads = jax.value_and_grad(objective, has_aux=True)(state.params)
  new_state = state.apply_gradients(grads=grads, batch_stats=cast_floating(batch_stats, jnp.float32),
                                    method_state=method_state)
  return new_state, {"loss": loss, **metrics, "grad_norm": optax.global_norm(grads),
                     "param_norm": optax.global_norm(new_state.params)}


@functools.lru_cache(maxsize=16)
def make_train_step(loss_fn: Objective = cross_entropy_objective, compute_dtype: str = "float32",
                    augment: str = "none"):
  """`train_step` for `loss_fn`, jitted with the state donated: (state, batch, rng) -> (state, metrics).
  Cached, so runs of one objective (the two runs of a localization pair) share one compiled program."""
  return jax.jit(functools.partial(train_step, loss_fn=loss_fn, compute_dtype=compute_dtype, augment=augment),
                 donate_argnums=(0,))


def gather_batch(data: dict, index: jnp.ndarray) -> dict:
  """The rows `index` int [B] of every field of device-resident `data` ({field: [N, ...]}), plus `index`."""
  return {**{key: value[index] for key, value in data.items()}, "index": index}


def train_chunk(state: TrainState, data: dict | None, steps: Any, rng: jax.Array, batch_sharding=None,
                loss_fn: Objective = cross_entropy_objective, compute_dtype: str = "float32",
                augment: str = "none") -> tuple[TrainState, dict]:
  """`train_step` over n steps in one program (`lax.scan`). `steps` is, per step, either a batch index int
  [n, B] into the device-resident split `data` (gathered on the device), or, with `data` None, the batches
  themselves ({field: [n, B, ...]}). `batch_sharding` (a NamedSharding over the batch axis) keeps each gathered
  batch split over the devices. Returns the state after the n steps and each metric stacked, [n]."""

  body = functools.partial(chunk_step, data=data, rng=rng, batch_sharding=batch_sharding, loss_fn=loss_fn,
                           compute_dtype=compute_dtype, augment=augment)
  return jax.lax.scan(lambda state, step_input: body(state, step_input=step_input), state, steps)


def chunk_step(state: TrainState, data: dict | None, step_input: Any, rng: jax.Array, batch_sharding=None,
               loss_fn: Objective = cross_entropy_objective, compute_dtype: str = "float32",
               augment: str = "none") -> tuple[TrainState, dict]:
  """One step of `train_chunk`: its batch gathered from `data` by `step_input` (or `step_input` itself)."""
  batch = step_input if data is None else gather_batch(data, step_input)
  if batch_sharding is not None:
    batch = jax.lax.with_sharding_constraint(batch, batch_sharding)
  return train_step(state, batch, rng, loss_fn, compute_dtype, augment)


@functools.lru_cache(maxsize=16)
def make_train_chunk(loss_fn: Objective = cross_entropy_objective, compute_dtype: str = "float32",
                     augment: str = "none", batch_sharding=None, scan: bool = True):
  """(state, data, steps, rng) -> (state, stacked metrics) over a chunk of steps, the state donated. With `scan`,
  `train_chunk` jitted: the chunk in one program, each number of steps per chunk compiled once. Without, one
  jitted step per dispatch in a Python loop, each awaited before the next (a queue of multi-device programs
  deadlocked XLA:CPU's in-process all-reduce), the metrics stacked at the chunk's end: the same steps, bitwise
  those of `make_train_step`. XLA:CPU runs convolutions
  inside a loop body several times slower than alone (jax-ml/jax#12868; sharding.scan_steps has the rule).
  Cached like `make_train_step`."""
  if scan:
    return jax.jit(functools.partial(train_chunk, batch_sharding=batch_sharding, loss_fn=loss_fn,
                                     compute_dtype=compute_dtype, augment=augment), donate_argnums=(0,))
  one = jax.jit(functools.partial(chunk_step, batch_sharding=batch_sharding, loss_fn=loss_fn,
                                  compute_dtype=compute_dtype, augment=augment), donate_argnums=(0,))

  def chunk_by_step(state, data, steps, rng):
    metrics = []
    for k in range(len(jax.tree.leaves(steps)[0])):
      state, step_metrics = one(state, data, jax.tree.map(lambda x: x[k], steps), rng)
      jax.block_until_ready(step_metrics)  # one step in flight: a queue of them can deadlock XLA:CPU's all-reduce
      metrics.append(step_metrics)
    return state, jax.tree.map(lambda *values: jnp.stack(values), *metrics)

  return chunk_by_step


def eval_step(state: TrainState, batch: dict, num_classes: int, num_groups: int) -> dict:
  """Summed counts over `batch` (see metrics.count_correct), the model in eval mode."""
  logits = state.apply_fn(state.variables(), normalize_images(batch["image"], state.input_normalization),
                          train=False)
  return count_correct(logits, batch, num_classes, num_groups)


@functools.lru_cache(maxsize=None)
def jit_eval_step(num_classes: int, num_groups: int):
  """`eval_step` jitted for a fixed number of classes and groups."""
  return jax.jit(functools.partial(eval_step, num_classes=num_classes, num_groups=num_groups))


def eval_split(state: TrainState, chunks: dict, num_classes: int, num_groups: int) -> dict:
  """Summed counts of `eval_step` over a whole split given as chunks ({field: [num_chunks, size, ...]},
  data.pipeline.chunked), in one program (`lax.map` over the chunks)."""
  counts = jax.lax.map(functools.partial(eval_step, state, num_classes=num_classes, num_groups=num_groups), chunks)
  return jax.tree.map(lambda x: x.sum(0), counts)


@functools.lru_cache(maxsize=None)
def jit_eval_split(num_classes: int, num_groups: int):
  """`eval_split` jitted for a fixed number of classes and groups."""
  return jax.jit(functools.partial(eval_split, num_classes=num_classes, num_groups=num_groups))
