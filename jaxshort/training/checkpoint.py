"""Orbax checkpoints of a train state, with automatic resume from the latest one in the workdir."""

import os

import jax
import orbax.checkpoint as ocp

from jaxshort.training.state import TrainState


def _saved_fields(state: TrainState) -> dict:
  return {"step": state.step, "params": state.params, "batch_stats": state.batch_stats,
          "opt_state": state.opt_state}


class Checkpointer:
  """Keeps the last `max_to_keep` checkpoints of a TrainState in `directory`."""

  def __init__(self, directory: str, max_to_keep: int = 2):
    self.manager = ocp.CheckpointManager(
        os.path.abspath(directory),
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True))

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def save(self, state: TrainState) -> None:
    """Saves `state` under its step and waits until it is on disk."""
    step = int(jax.device_get(state.step))
    self.manager.save(step, args=ocp.args.StandardSave(_saved_fields(state)), force=True)
    self.manager.wait_until_finished()

  def restore_latest(self, state: TrainState) -> TrainState:
    """`state` with the fields of the latest checkpoint, placed as `state`'s arrays are; unchanged if none."""
    step = self.latest_step()
    if step is None:
      return state
    target = jax.tree.map(ocp.utils.to_shape_dtype_struct, _saved_fields(state))
    restored = self.manager.restore(step, args=ocp.args.StandardRestore(target))
    return state.replace(**restored)

  def close(self) -> None:
    self.manager.close()
