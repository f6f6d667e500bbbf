"""Jitted steps for classifiers: pure functions of (state, batch, rng).

Randomness in a step is `fold_in(rng, state.step)`, so it depends on (seed, step) alone and a resumed run
repeats it exactly. Mixed precision (`compute_dtype='bfloat16'`, for GPUs and TPUs): the forward and backward
passes run on a bfloat16 copy of the parameters and images, while the parameters, the optimizer state, the batch
statistics, the logits' loss and the gradients stay float32. Augmentation (`augment='crop_flip'`: the standard
CIFAR random 4-pixel-padded crop and horizontal flip, data/augment.py) runs inside the step on the uint8 batch,
keyed by (seed, step), so a resumed run and both runs of a localization pair see the same crops and flips. Per-example weights (`batch['weight']`, float [B]) are honoured where present, for
reweighting methods; otherwise every example weighs 1.
"""

import functools

import jax
import jax.numpy as jnp
import optax

from jaxshort.data.augment import crop_and_flip
from jaxshort.data.pipeline import normalize_images
from jaxshort.training.metrics import count_correct
from jaxshort.training.state import TrainState


def classification_loss(logits: jnp.ndarray, batch: dict) -> jnp.ndarray:
  """Mean cross-entropy, weighted by batch['weight'] where given. logits [B, C] -> scalar."""
  losses = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"])
  weights = batch.get("weight")
  if weights is None:
    return losses.mean()
  return jnp.sum(losses * weights) / jnp.maximum(jnp.sum(weights), 1e-12)


COMPUTE_DTYPES = ("float32", "bfloat16")
AUGMENTATIONS = ("none", "crop_flip")


def augment_images(images: jnp.ndarray, rng: jax.Array, augment: str) -> jnp.ndarray:
  """uint8 images [B, H, W, C] augmented as `augment` names ('none' returns them unchanged)."""
  return crop_and_flip(images, rng) if augment == "crop_flip" else images


def cast_floating(tree, dtype):
  """`tree` with every floating-point leaf cast to `dtype` (integer leaves unchanged)."""
  return jax.tree.map(lambda x: x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x, tree)


def train_step(state: TrainState, batch: dict, rng: jax.Array, compute_dtype: str = "float32",
               augment: str = "none") -> tuple[TrainState, dict]:
  """One optimizer step on `batch` (uint8 images, int labels); returns the new state and scalar metrics.
  `compute_dtype` 'bfloat16' runs the model in mixed precision; `augment` (AUGMENTATIONS) augments the batch
  first (module docstring)."""
  rng = jax.random.fold_in(rng, state.step)
  augment_rng, rng = jax.random.split(rng)
  images = normalize_images(augment_images(batch["image"], augment_rng, augment)).astype(compute_dtype)

  def loss_fn(params):
    variables = state.variables(cast_floating(params, compute_dtype))
    logits, updates = state.apply_fn(variables, images, train=True, mutable=["batch_stats"],
                                     rngs={"dropout": rng})
    logits = logits.astype(jnp.float32)
    return classification_loss(logits, batch), (logits, cast_floating(updates, jnp.float32))

  (loss, (logits, updates)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  new_state = state.apply_gradients(grads=grads, batch_stats=updates.get("batch_stats", state.batch_stats))
  metrics = {
      "loss": loss,
      "accuracy": jnp.mean(jnp.argmax(logits, -1) == batch["label"]),
      "grad_norm": optax.global_norm(grads),
      "param_norm": optax.global_norm(new_state.params),
  }
  return new_state, metrics


def eval_step(state: TrainState, batch: dict, num_classes: int, num_groups: int) -> dict:
  """Summed counts over `batch` (see metrics.count_correct), the model in eval mode."""
  logits = state.apply_fn(state.variables(), normalize_images(batch["image"]), train=False)
  return count_correct(logits, batch, num_classes, num_groups)


jit_train_step = jax.jit(train_step, donate_argnums=(0,), static_argnames=("compute_dtype", "augment"))


@functools.lru_cache(maxsize=None)
def jit_eval_step(num_classes: int, num_groups: int):
  """`eval_step` jitted for a fixed number of classes and groups."""
  return jax.jit(functools.partial(eval_step, num_classes=num_classes, num_groups=num_groups))


def make_train_step(loss_fn):
  """A jitted train step (state, batch, rng) -> (state, metrics) for any objective.

  `loss_fn(params, apply_fn, batch, rng) -> (scalar loss, dict of scalar metrics)` sees the batch with images
  already float in [-1, 1]; its metrics should include `accuracy`. The step adds `loss`, `grad_norm` and
  `param_norm`. For models without batch statistics; randomness is `fold_in(rng, state.step)` as above.
  """

  def step(state: TrainState, batch: dict, rng: jax.Array) -> tuple[TrainState, dict]:
    rng = jax.random.fold_in(rng, state.step)
    batch = {**batch, "image": normalize_images(batch["image"])}
    (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params, state.apply_fn, batch, rng)
    new_state = state.apply_gradients(grads=grads)
    return new_state, {"loss": loss, **metrics, "grad_norm": optax.global_norm(grads),
                       "param_norm": optax.global_norm(new_state.params)}

  return jax.jit(step, donate_argnums=(0,))
