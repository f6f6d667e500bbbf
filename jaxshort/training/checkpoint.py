"""Orbax checkpoints of a train state, with automatic resume from the latest good one in the workdir.

A checkpoint that cannot be read (truncated or corrupt files, say after a crash of the disk or the machine) is
moved aside into `unreadable_checkpoints/` next to the checkpoint folder, with a warning, and the one before it
is used; that is why at least two are kept.
"""

import os
import sys
import time

import jax
import orbax.checkpoint as ocp

from jaxshort.errors import UserError
from jaxshort.training.state import TrainState


def _saved_fields(state: TrainState) -> dict:
  return {"step": state.step, "params": state.params, "batch_stats": state.batch_stats,
          "method_state": state.method_state, "opt_state": state.opt_state}


class Checkpointer:
  """Keeps the last `max_to_keep` (>= 2) checkpoints of a TrainState in `directory`."""

  def __init__(self, directory: str, max_to_keep: int = 2):
    self.manager = ocp.CheckpointManager(
        os.path.abspath(directory),
        options=ocp.CheckpointManagerOptions(max_to_keep=max(max_to_keep, 2), create=True))

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def save(self, state: TrainState) -> None:
    """Saves `state` under its step, asynchronously: the arrays are copied off the devices before this returns
    (so the state may be donated to the next step), and written to disk in the background, into a temporary
    folder renamed when complete (a run killed meanwhile leaves no partial checkpoint; the one before stays).
    The next save and `close` wait for it."""
    step = int(jax.device_get(state.step))
    self.manager.wait_until_finished()
    self.manager.save(step, args=ocp.args.StandardSave(_saved_fields(state)), force=True)

  def restore_latest(self, state: TrainState) -> TrainState:
    """`state` with the fields of the newest readable checkpoint, placed as `state`'s arrays are; `state`
    itself if there is none. Unreadable checkpoints are reported on stderr and skipped."""
    target = jax.tree.map(ocp.utils.to_shape_dtype_struct, _saved_fields(state))
    for step in sorted(self.manager.all_steps(), reverse=True):
      try:
        restored = self.manager.restore(step, args=ocp.args.StandardRestore(target))
      except Exception as error:  # orbax/tensorstore raise many types for bad files  pylint: disable=broad-except
        aside = self._move_aside(step)
        print(f"warning: checkpoint {step} in {self.manager.directory} cannot be read "
              f"({type(error).__name__}: {str(error).splitlines()[0][:160] if str(error) else ''}); moved to "
              f"{aside}; trying the one before it", file=sys.stderr, flush=True)
        continue
      return state.replace(**restored)
    return state

  def _move_aside(self, step: int) -> str:
    directory = os.fspath(self.manager.directory)
    aside = os.path.join(os.path.dirname(directory), "unreadable_checkpoints", f"{step}-{time.time_ns()}")
    os.makedirs(os.path.dirname(aside), exist_ok=True)
    os.replace(os.path.join(directory, str(step)), aside)
    self.manager.reload()
    return aside

  def close(self, quietly: bool = False) -> None:
    """Waits for a save in progress, then releases the manager; `quietly` (while another error is being
    raised) turns a failure of that save into a warning."""
    try:
      self.manager.wait_until_finished()
      self.manager.close()
    except Exception as error:  # pylint: disable=broad-except
      if not quietly:
        raise
      print(f"warning: the last checkpoint in {self.manager.directory} may be incomplete ({type(error).__name__}: "
            f"{error})", file=sys.stderr, flush=True)


def load_variables(directory: str) -> dict:
  """{'params'[, 'batch_stats']} of the newest checkpoint in a run's checkpoint folder (`<run>/checkpoints`),
  placed on this process's first device whatever the devices it was saved from: for using a trained model
  outside the loop."""
  manager = ocp.CheckpointManager(os.path.abspath(directory), options=ocp.CheckpointManagerOptions(read_only=True))
  step = manager.latest_step()
  manager.close()
  if step is None:
    raise UserError(f"{directory!r} holds no checkpoint; give a run's checkpoints folder, e.g. "
                    f"runs/default-<time>/localize/clean/checkpoints")
  path = os.path.join(os.path.abspath(directory), str(step), "default")
  checkpointer = ocp.StandardCheckpointer()
  device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  target = jax.tree.map(lambda leaf: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=device),
                        checkpointer.metadata(path).item_metadata.tree)
  saved = checkpointer.restore(path, target)
  return {key: saved[key] for key in ("params", "batch_stats") if saved.get(key)}
