"""Checkpoint faults, divergence, workdir overwrite: what happens when things go wrong mid-run."""

import glob
import json
import os
import shutil

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxshort import data, experiments, models
from jaxshort.errors import NonFiniteError, UserError
from jaxshort.methods.classifier import group_dro_objective
from jaxshort.training.checkpoint import Checkpointer
from jaxshort.training.optimizers import make_optimizer
from jaxshort.training.state import create_train_state
from jaxshort.models import init_variables
from jaxshort.training.loop import train_classifier
from tests.conftest import shrink


def setup(config):
  dataset = data.build_dataset(config.dataset, config.seed)
  model = models.build_model(config.model, dataset.num_classes)
  return dataset, model


def corrupt(checkpoint_dir: str) -> None:
  """Truncates every data file of one orbax checkpoint to half its size."""
  files = [f for f in glob.glob(os.path.join(checkpoint_dir, "**", "*"), recursive=True)
           if os.path.isfile(f) and "ocdbt.process_0" in f]
  assert files
  for path in files:
    with open(path, "r+b") as f:
      f.truncate(os.path.getsize(path) // 2)


def test_corrupt_latest_checkpoint_falls_back_to_the_one_before(tmp_path, tiny_config, capfd):
  dataset, model = setup(tiny_config)
  reference = train_classifier(tiny_config, dataset, model, str(tmp_path / "reference"))
  run_dir = tmp_path / "run"
  train_classifier(tiny_config, dataset, model, str(run_dir))  # checkpoints at 20 and 40
  corrupt(str(run_dir / "checkpoints" / "40"))
  template = create_train_state(model, init_variables(model, jax.random.key(5), dataset.image_shape),
                                make_optimizer(tiny_config.optimizer, tiny_config.num_steps))
  checkpoints = Checkpointer(str(run_dir / "checkpoints"))
  assert int(checkpoints.restore_latest(template).step) == 20
  checkpoints.close()
  assert "checkpoint 40" in capfd.readouterr().err
  resumed = train_classifier(tiny_config, dataset, model, str(run_dir))  # redoes steps 21..40
  chex.assert_trees_all_equal(jax.device_get(resumed.params), jax.device_get(reference.params))


def nan_after(step: int, learning_rate: float = 1e-3) -> optax.GradientTransformation:
  """SGD whose updates become NaN from update `step` on: a divergence at a known step."""
  def init(params):
    return {"count": jnp.zeros([], jnp.int32)}

  def update(grads, state, params=None):
    poison = jnp.where(state["count"] >= step, jnp.nan, 0.0)
    updates = jax.tree.map(lambda g: -learning_rate * g + poison, grads)
    return updates, {"count": state["count"] + 1}
  return optax.GradientTransformation(init, update)


def test_divergence_names_the_first_bad_step_and_keeps_the_last_good_checkpoint(tmp_path, tiny_config):
  tiny_config.checkpoint_every_steps = 10
  tiny_config.log_every_steps = 1000  # the check of each chunk's metrics must catch it, not the log
  dataset, model = setup(tiny_config)
  with pytest.raises(NonFiniteError, match="not finite at step 26"):
    train_classifier(tiny_config, dataset, model, str(tmp_path), tx=nan_after(25))
  checkpoints = Checkpointer(str(tmp_path / "checkpoints"))
  assert checkpoints.latest_step() == 20
  template = create_train_state(model, init_variables(model, jax.random.key(0), dataset.image_shape),
                                nan_after(25))
  restored = checkpoints.restore_latest(template)
  checkpoints.close()
  chex.assert_tree_all_finite(restored.params)


def test_overwrite_moves_the_old_run_aside(tmp_path, tiny_config):
  workdir = str(tmp_path / "w")
  tiny_config.num_steps = 10
  first = experiments.run_in_workdir(tiny_config, workdir)
  tiny_config.seed = 1
  with pytest.raises(UserError, match="holds a run with another config .*seed"):
    experiments.run_in_workdir(tiny_config, workdir)
  second = experiments.run_in_workdir(tiny_config, workdir, overwrite=True)
  (aside,) = glob.glob(os.path.join(workdir, "overwritten-*"))
  assert json.load(open(os.path.join(aside, "results.json")))["metrics"] == json.loads(
      json.dumps(first["metrics"]))
  assert json.load(open(os.path.join(workdir, "results.json")))["seed"] == 1 == second["seed"]


def test_same_config_resumes_in_place(tmp_path, tiny_config):
  workdir = str(tmp_path / "w")
  first = experiments.run_in_workdir(tiny_config, workdir)
  again = experiments.run_in_workdir(tiny_config, workdir)  # finished: restores the last checkpoint
  assert again["metrics"] == first["metrics"]
  assert np.isfinite(first["summary"]["out_of_distribution_accuracy"])


def test_a_resumed_run_continues_the_method_state_exactly(tmp_path, tiny_config):
  """GroupDRO's q lives in the checkpoint: a run cut after step 2 and resumed ends bitwise where an
  uninterrupted run does (q restarted from uniform would not)."""
  config = shrink(tiny_config, 4, 2)
  dataset, model = setup(config)
  objective = group_dro_objective(0.5, dataset.num_groups)
  q0 = lambda: {"q": jnp.full(dataset.num_groups, 1.0 / dataset.num_groups, jnp.float32)}  # the step donates it
  whole = train_classifier(config, dataset, model, str(tmp_path / "a"), loss_fn=objective, method_state=q0())
  shutil.copytree(tmp_path / "a", tmp_path / "b")
  shutil.rmtree(tmp_path / "b" / "checkpoints" / "4")  # as if killed between steps 2 and 4
  resumed = train_classifier(config, dataset, model, str(tmp_path / "b"), loss_fn=objective, method_state=q0())
  assert not np.allclose(jax.device_get(whole.method_state["q"]), 1.0 / dataset.num_groups)
  chex.assert_trees_all_equal(jax.device_get(resumed.method_state), jax.device_get(whole.method_state))
  chex.assert_trees_all_equal(jax.device_get(resumed.params), jax.device_get(whole.params))
