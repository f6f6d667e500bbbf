"""Sweeps: the grid of a config's `sweep` field, job selection for batch systems, running, skipping, collecting."""

import json
import os
import subprocess
import sys

import pytest

from jaxshort import config as config_lib
from jaxshort import sweep
from jaxshort.errors import UserError
from tests.conftest import REPO


TINY_SWEEP_CONFIG = '''
from configs import erm_cmnist

def get_config():
  config = erm_cmnist.get_config()
  config.num_steps = 4
  config.log_every_steps = 2
  config.eval_every_steps = 4
  config.checkpoint_every_steps = 4
  config.model.widths = (8,)
  config.progress_every_seconds = 1e9
  config.num_cpu_devices = 2
  config.sweep = {"seed": (0, 1), "model": {"widths": ((8,), (4,))}}
  return config
'''


@pytest.fixture
def swept_config(tiny_config):
  tiny_config.num_steps = 4
  tiny_config.eval_every_steps = 4
  tiny_config.checkpoint_every_steps = 4
  tiny_config.sweep = {"seed": (0, 1), "model": {"name": ("mlp", "small_cnn"), "widths": ((4,),)}}
  return tiny_config


def test_grid_is_the_product_in_sorted_field_order(swept_config):
  jobs = sweep.grid_jobs(swept_config)
  assert [name for name, _, _ in jobs] == [
      "model.name=mlp,model.widths=4,seed=0", "model.name=mlp,model.widths=4,seed=1",
      "model.name=small_cnn,model.widths=4,seed=0", "model.name=small_cnn,model.widths=4,seed=1"]
  _, values, job = jobs[3]
  assert values == {"model.name": "small_cnn", "model.widths": (4,), "seed": 1}
  assert (job.model.name, job.model.widths, job.seed) == ("small_cnn", (4,), 1)
  assert "sweep" not in job and "sweep" in swept_config  # the job config holds no grid; the input is unchanged
  del swept_config.sweep
  assert [name for name, _, _ in sweep.grid_jobs(swept_config)] == ["run"]


def test_bad_grids_and_job_indices_are_user_errors(swept_config):
  swept_config.sweep = {"modle": {"name": ("mlp",)}}
  with pytest.raises(UserError, match="no field 'modle'"):
    sweep.grid_jobs(swept_config)
  swept_config.sweep = {"seed": 3}
  with pytest.raises(UserError, match="non-empty tuple"):
    sweep.grid_jobs(swept_config)
  assert sweep.job_indices(5, None, None) == [0, 1, 2, 3, 4]
  assert sweep.job_indices(5, 3, None) == [3]
  assert sweep.job_indices(5, 1, 2) == [1, 3]
  with pytest.raises(UserError):
    sweep.job_indices(5, 5, None)
  with pytest.raises(UserError):
    sweep.job_indices(5, 2, 2)


def test_config_overrides_apply_to_every_job_and_typos_are_user_errors(swept_config):
  config_lib.apply_overrides(swept_config, ["num_steps=7", "model.widths=(2,)", "optimizer.name=sgd"], "sweep.py")
  jobs = sweep.grid_jobs(swept_config)
  assert {job.num_steps for _, _, job in jobs} == {7} and {job.optimizer.name for _, _, job in jobs} == {"sgd"}
  with pytest.raises(UserError, match="no field 'num_step'"):
    config_lib.apply_overrides(swept_config, ["num_step=7"], "sweep.py")
  with pytest.raises(UserError, match="num_steps"):
    config_lib.apply_overrides(swept_config, ["num_steps='many'"], "sweep.py")


def test_run_skips_finished_jobs_and_collect_gathers_summaries(tmp_path, swept_config):
  swept_config.sweep = {"seed": (0, 1, 2), "model": {"widths": ((4,),)}}
  workdir = str(tmp_path / "sweep")
  names = [name for name, _, _ in sweep.grid_jobs(swept_config)]
  assert sweep.run_jobs(swept_config, workdir, [0, 2]) == [names[0], names[2]]
  assert sweep.collect(workdir)["missing"] == [names[1]]
  assert sweep.run_jobs(swept_config, workdir, [0, 1, 2]) == [names[1]]
  assert sweep.run_jobs(swept_config, workdir, [0, 1, 2]) == []  # everything finished: nothing runs
  table = sweep.collect(workdir)
  assert len(table["rows"]) == 3 and table["missing"] == []
  assert table["columns"][:3] == ["job", "model.widths", "seed"]
  assert "in_distribution_accuracy" in table["columns"]
  for row in table["rows"]:  # each row is that job's own summary
    saved = json.load(open(os.path.join(workdir, row["job"], "results.json")))["summary"]
    assert row["in_distribution_accuracy"] == saved["in_distribution_accuracy"]
  markdown = open(os.path.join(workdir, "sweep.md")).read()
  assert markdown.count("\n") == 2 + 3 and "seed=2" in markdown
  assert json.load(open(os.path.join(workdir, "sweep.json")))["rows"] == json.loads(json.dumps(table["rows"]))


@pytest.mark.slow
def test_command_line_runs_one_job_of_a_batch_array(tmp_path):
  config_path = tmp_path / "tiny_sweep.py"
  config_path.write_text(TINY_SWEEP_CONFIG)
  workdir = tmp_path / "sweep"
  command = [sys.executable, "-m", "jaxshort.sweep", "--config", str(config_path), "--workdir", str(workdir)]
  run = subprocess.run(command + ["--job-index", "1", "--num-jobs", "3"], cwd=REPO, capture_output=True, text=True,
                       timeout=300)
  assert run.returncode == 0, run.stderr
  assert sorted(os.listdir(workdir)) == ["model.widths=8,seed=1", "sweep_grid.json"]
  collected = subprocess.run([sys.executable, "-m", "jaxshort.sweep", "collect", "--workdir", str(workdir)],
                             cwd=REPO, capture_output=True, text=True, timeout=120)
  assert collected.returncode == 0, collected.stderr
  assert "model.widths=8,seed=1" in collected.stdout and "not finished: " in collected.stdout
  bad = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
  assert bad.returncode == 2 and "--all or --job-index" in bad.stderr
