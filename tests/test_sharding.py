"""Data parallelism: training split over 4 CPU devices matches training on one; when a multi-process start is
wanted. The device count is fixed when JAX starts, so each count runs in its own subprocess."""

import os
import subprocess
import sys

import chex
import numpy as np
import pytest

from jaxshort.errors import UserError
from jaxshort.training import sharding
from tests.conftest import REPO


TRAIN_SCRIPT = '''
import sys
import jax
jax.config.update("jax_num_cpu_devices", int(sys.argv[1]))
sys.path.insert(0, sys.argv[3])
import numpy as np
from configs import erm_cmnist
from jaxshort import data, models
from jaxshort.training import sharding
from jaxshort.training.loop import train_classifier

config = erm_cmnist.get_config()
config.model.name, config.model.widths = "small_cnn", (4, 8)  # convs and batch norm: statistics over the batch
config.optimizer.name = "sgd"  # Adam's per-parameter normalization would magnify rounding where a gradient is ~0
config.num_steps, config.log_every_steps, config.eval_every_steps = 6, 3, 6
config.checkpoint_every_steps, config.progress_every_seconds = 6, 1e9
dataset = data.build_dataset(config.dataset, config.seed)
state = train_classifier(config, dataset, models.build_model(config.model, dataset.num_classes), sys.argv[2] + "/run")
assert sharding.data_mesh().size == jax.device_count() == int(sys.argv[1])
assert len(state.params["conv1"]["Conv_0"]["kernel"].sharding.device_set) == int(sys.argv[1])
leaves = jax.tree_util.tree_flatten_with_path(jax.device_get(state.params))[0]
np.savez(sys.argv[2] + "/params.npz", **{jax.tree_util.keystr(path): leaf for path, leaf in leaves})
'''


def train_on(num_devices: int, directory) -> dict:
  os.makedirs(directory)
  run = subprocess.run([sys.executable, "-c", TRAIN_SCRIPT, str(num_devices), str(directory), REPO],
                       capture_output=True, text=True, timeout=300)
  assert run.returncode == 0, run.stderr[-3000:]
  with np.load(os.path.join(directory, "params.npz")) as params:
    return dict(params)


@pytest.mark.slow
def test_training_on_4_devices_matches_one_device(tmp_path):
  sharded = train_on(4, tmp_path / "four")
  single = train_on(1, tmp_path / "one")
  assert sorted(sharded) == sorted(single) and len(single) >= 5
  chex.assert_trees_all_close(sharded, single, rtol=1e-4, atol=1e-5)


def test_multi_process_start_only_where_the_environment_names_several_processes():
  assert not sharding.wants_distributed("auto", {})
  assert not sharding.wants_distributed("auto", {"SLURM_NTASKS": "1", "SLURM_STEP_NODELIST": "n1"})
  assert not sharding.wants_distributed("auto", {"SLURM_NTASKS": "4"})  # sbatch script, not an srun step
  assert sharding.wants_distributed("auto", {"SLURM_NTASKS": "4", "SLURM_STEP_NODELIST": "n[1-4]"})
  assert sharding.wants_distributed("auto", {"JAX_COORDINATOR_ADDRESS": "10.0.0.1:1234"})
  assert sharding.wants_distributed("auto", {"OMPI_COMM_WORLD_SIZE": "2"})
  assert sharding.wants_distributed("on", {}) and not sharding.wants_distributed("off", {"OMPI_COMM_WORLD_SIZE": "2"})
  with pytest.raises(UserError, match="distributed"):
    sharding.wants_distributed("yes", {})
