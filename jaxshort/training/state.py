"""The train state: step, params and batch statistics keyed by block name, optimizer state, and the state a
method carries across steps (GroupDRO's group weights, LfF's loss averages; an empty dict for most)."""

from typing import Any

import flax.linen as nn
import jax
import optax
from flax import struct
from flax.training import train_state


class TrainState(train_state.TrainState):
  """flax's TrainState plus `batch_stats` (an empty dict for models without batch norm), `method_state`, and
  `input_normalization`, how the model's images are preprocessed (data.pipeline.normalize_images)."""
  batch_stats: Any = None
  method_state: Any = None
  input_normalization: str = struct.field(pytree_node=False, default="symmetric")

  def variables(self, params=None) -> dict:
    """The variables dict for `apply_fn`: params (these, or the state's own) and batch_stats where present."""
    variables = {"params": self.params if params is None else params}
    if self.batch_stats:
      variables["batch_stats"] = self.batch_stats
    return variables


def create_train_state(model: nn.Module, variables: dict, tx: optax.GradientTransformation,
                       method_state: Any = None, input_normalization: str = "symmetric") -> TrainState:
  """A TrainState at step 0 from initial `variables` (which fix theta_0), a method's initial state and the
  model's input normalization."""
  return TrainState.create(apply_fn=model.apply, params=variables["params"],
                           batch_stats=variables.get("batch_stats", {}), tx=tx,
                           method_state={} if method_state is None else method_state,
                           input_normalization=input_normalization)


def num_params(params: Any) -> int:
  return int(sum(x.size for x in jax.tree.leaves(params)))
