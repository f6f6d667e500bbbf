"""Optimizers and learning-rate schedules from the config's `optimizer` field."""

import ml_collections
import optax

from jaxshort.config import OPTIMIZERS, SCHEDULES
from jaxshort.errors import UserError


def make_schedule(config: ml_collections.ConfigDict, num_steps: int) -> optax.Schedule:
  """`config.schedule`: 'constant', 'cosine' (to 0 at num_steps) or 'warmup_cosine' (linear warm-up first)."""
  lr = config.learning_rate
  if not lr > 0:
    raise UserError(f"optimizer.learning_rate must be positive, got {lr}")
  warmup = config.warmup_steps
  if config.schedule == "constant":
    return optax.constant_schedule(lr)
  if config.schedule == "cosine":
    return optax.cosine_decay_schedule(lr, max(num_steps, 1))
  if config.schedule == "warmup_cosine":
    if not 0 <= warmup < num_steps:
      raise UserError(f"optimizer.warmup_steps must lie in [0, num_steps={num_steps}), got {warmup}")
    return optax.warmup_cosine_decay_schedule(0.0, lr, warmup, max(num_steps, warmup + 1))
  raise UserError(f"unknown optimizer.schedule {config.schedule!r}; known: {', '.join(SCHEDULES)}")


def gradient_clipping(config: ml_collections.ConfigDict) -> list[optax.GradientTransformation]:
  """[clip_by_global_norm(config.grad_clip_norm)], or [] when grad_clip_norm is 0."""
  return [optax.clip_by_global_norm(config.grad_clip_norm)] if config.grad_clip_norm else []


def make_optimizer(config: ml_collections.ConfigDict, num_steps: int,
                   clip: bool = True) -> optax.GradientTransformation:
  """`config.name`: 'sgd' (with `momentum`, 0 for none, and `nesterov`), 'adam' or 'adamw'; `grad_clip_norm`
  (0: none; applied first, over the global norm of all gradients, unless `clip` is False) and `weight_decay`
  (decoupled for adamw, L2 added to the gradient for sgd and adam)."""
  schedule = make_schedule(config, num_steps)
  weight_decay = config.weight_decay
  if weight_decay < 0:
    raise UserError(f"optimizer.weight_decay must be >= 0, got {weight_decay}")
  if config.name == "sgd":
    core = optax.sgd(schedule, momentum=config.momentum or None, nesterov=config.nesterov)
  elif config.name == "adam":
    core = optax.adam(schedule)
  elif config.name == "adamw":
    core = optax.adamw(schedule, weight_decay=weight_decay)
  else:
    raise UserError(f"unknown optimizer.name {config.name!r}; known: {', '.join(OPTIMIZERS)}")
  chain = gradient_clipping(config) if clip else []
  if weight_decay and config.name != "adamw":
    chain.append(optax.add_decayed_weights(weight_decay))
  return optax.chain(*chain, core)
