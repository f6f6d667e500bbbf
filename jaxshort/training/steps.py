"""Jitted steps for classifiers: pure functions of (state, batch, rng).

Randomness in a step is `fold_in(rng, state.step)`, so it depends on (seed, step) alone and a resumed run
repeats it exactly. Per-example weights (`batch['weight']`, float [B]) are honoured where present, for
reweighting methods; otherwise every example weighs 1.
"""

import functools

import jax
import jax.numpy as jnp
import optax

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


def train_step(state: TrainState, batch: dict, rng: jax.Array) -> tuple[TrainState, dict]:
  """One optimizer step on `batch` (uint8 images, int labels); returns the new state and scalar metrics."""
  rng = jax.random.fold_in(rng, state.step)
  images = normalize_images(batch["image"])

  def loss_fn(params):
    logits, updates = state.apply_fn(state.variables(params), images, train=True, mutable=["batch_stats"],
                                     rngs={"dropout": rng})
    return classification_loss(logits, batch), (logits, updates)

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


jit_train_step = jax.jit(train_step, donate_argnums=(0,))


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
