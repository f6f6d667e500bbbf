"""The train state: step, params and batch statistics keyed by block name, optimizer state."""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax.training import train_state

from jaxshort.errors import UserError


class TrainState(train_state.TrainState):
  """flax's TrainState plus `batch_stats` (an empty dict for models without batch norm)."""
  batch_stats: Any = None

  def variables(self, params=None) -> dict:
    """The variables dict for `apply_fn`: params (these, or the state's own) and batch_stats where present."""
    variables = {"params": self.params if params is None else params}
    if self.batch_stats:
      variables["batch_stats"] = self.batch_stats
    return variables


def init_variables(model: nn.Module, rng: jax.Array, image_shape: tuple[int, ...]) -> dict:
  """Initial variables of `model` for images of `image_shape` ([H, W, C]); no intermediates."""
  try:
    variables = model.init(rng, jnp.zeros((1, *image_shape), jnp.float32), train=False)
  except (TypeError, ValueError) as error:  # settings that do not fit the model or the images
    raise UserError(f"model {type(model).__name__} cannot be built with its settings for images of shape "
                    f"{list(image_shape)}: {type(error).__name__}: {str(error).splitlines()[0]}; check config.model "
                    f"(docs/models.md lists each model's settings)") from None
  return {key: value for key, value in variables.items() if key != "intermediates"}


def create_train_state(model: nn.Module, variables: dict, tx: optax.GradientTransformation) -> TrainState:
  """A TrainState at step 0 from initial `variables` (which fix theta_0)."""
  return TrainState.create(apply_fn=model.apply, params=variables["params"],
                           batch_stats=variables.get("batch_stats", {}), tx=tx)


def num_params(params: Any) -> int:
  return int(sum(x.size for x in jax.tree.leaves(params)))
