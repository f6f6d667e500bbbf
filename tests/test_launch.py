"""launch.py as a user runs it: overrides, clear errors, and resume after SIGKILL."""

import json
import os
import signal
import subprocess
import sys
import time

import chex
import jax
import orbax.checkpoint as ocp
import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow  # every test here spawns processes

FAST = ["--config.num_steps=60", "--config.model.widths=(32,)", "--config.eval_every_steps=30",
        "--config.checkpoint_every_steps=30", "--config.log_every_steps=10"]


def launch(*args, wait=True):
  """launch.py with `args`; configs/erm_cmnist.py unless `args` name another config."""
  if not any(a.startswith("--config=") or a == "--config" for a in args):
    args = ("--config=configs/erm_cmnist.py", *args)
  command = [sys.executable, os.path.join(REPO, "launch.py"), *args]
  if not wait:
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)


def test_unknown_config_field_is_one_clear_line(tmp_path):
  run = launch("--config", "configs/erm_cmnist.py", "--config.no_such_field=1", f"--workdir={tmp_path / 'w'}")
  assert run.returncode == 2
  lines = run.stderr.strip().splitlines()
  assert len(lines) == 1, run.stderr
  assert lines[0].startswith("error: unknown config field --config.no_such_field")
  assert not os.path.exists(tmp_path / "w")


def test_bad_values_are_one_clear_line(tmp_path):
  for args, expected in [(["--config.seed=abc"], "--config.seed"),
                         (["--config.model.name=nope"], "unknown model 'nope'"),
                         (["--config=configs/missing.py"], "config file 'configs/missing.py' not found"),
                         (["--config.optimizer.learning_rate=-1.0"], "optimizer.learning_rate=-1.0 in configs/erm_cmnist.py")]:
    run = launch(*args, f"--workdir={tmp_path / 'w'}")
    assert run.returncode == 2, args
    assert "Traceback" not in run.stderr
    assert expected in run.stderr.strip().splitlines()[-1], run.stderr


def test_overrides_reach_the_run(tmp_path):
  workdir = tmp_path / "w"
  run = launch(*FAST, "--config.seed=3", f"--workdir={workdir}")
  assert run.returncode == 0, run.stderr
  config = json.load(open(workdir / "config.json"))
  assert config["seed"] == 3 and config["num_steps"] == 60 and config["model"]["widths"] == [32]
  results = json.load(open(workdir / "results.json"))
  assert results["seed"] == 3
  assert "out_of_distribution_accuracy" in run.stdout


def checkpoint_steps(workdir):
  folder = workdir / "checkpoints"
  return [int(d) for d in os.listdir(folder) if d.isdigit()] if folder.exists() else []


def logged_steps(workdir):
  path = workdir / "metrics.jsonl"
  return [json.loads(line)["step"] for line in open(path) if line.strip()] if path.exists() else []


def kill_when(args, ready, timeout=240):
  """Starts launch.py with `args`, SIGKILLs it once `ready()` holds; fails if it finished first."""
  process = launch(*args, wait=False)
  deadline = time.time() + timeout
  while time.time() < deadline and process.poll() is None and not ready():
    time.sleep(0.02)
  assert process.poll() is None, "the run ended before it could be killed"
  process.send_signal(signal.SIGKILL)
  process.wait()


def test_killed_run_resumes_to_the_same_results(tmp_path):
  args = ["--config.num_steps=300", "--config.checkpoint_every_steps=50", "--config.eval_every_steps=150",
          "--config.log_every_steps=20"]
  reference = tmp_path / "reference"
  assert launch(*args, f"--workdir={reference}").returncode == 0

  workdir = tmp_path / "killed"
  args.append(f"--workdir={workdir}")
  kill_when(args, lambda: len(logged_steps(workdir)) >= 1 and not checkpoint_steps(workdir))  # before any
  kill_when(args, lambda: max(checkpoint_steps(workdir), default=0) >= 100)  # between checkpoints
  kill_when(args, lambda: max(checkpoint_steps(workdir), default=0) >= 200)  # after a resume
  assert not (workdir / "results.json").exists()

  resumed = launch(*args)
  assert resumed.returncode == 0, resumed.stderr
  assert "resuming from the checkpoint at step" in resumed.stderr
  ours = json.load(open(workdir / "results.json"))["metrics"]
  theirs = json.load(open(reference / "results.json"))["metrics"]
  assert ours == theirs
  final = [ocp.StandardCheckpointer().restore(str(w / "checkpoints" / "300" / "default"))
           for w in (workdir, reference)]
  chex.assert_trees_all_equal(*[jax.device_get(f["params"]) for f in final])  # bitwise
  chex.assert_trees_all_equal(*[jax.device_get(f["opt_state"]) for f in final])
  records = [json.loads(line) for line in open(workdir / "metrics.jsonl")]
  keys = [(r["step"], r["split"]) for r in records]
  assert len(keys) == len(set(keys)), "records of a killed run's last steps were logged twice"
  assert [r["step"] for r in records if r["split"] == "train"] == list(range(20, 301, 20))


def test_default_suite_runs_every_part_and_resumes(tmp_path):
  workdir = tmp_path / "suite"
  shrink = ["--config=configs/default.py", "--config.erm.num_steps=20", "--config.erm.model.widths=(16,)",
            "--config.localize.num_steps=20", "--config.localize.localize.branch_steps=5",
            "--config.localize.model.widths=(16,8)", "--config.sitar.num_steps=20", "--config.sitar.eval_every_steps=10",
            f"--workdir={workdir}"]
  run = launch(*shrink)
  assert run.returncode == 0, run.stderr
  results = json.load(open(workdir / "results.json"))
  assert list(results["parts"]) == ["erm", "localize", "sitar"]
  assert "erm/out_of_distribution_accuracy" in results["summary"]
  assert "localize/spurious_encoding_by_block" in results["summary"]
  assert "sitar/sitar/out_of_distribution_accuracy" in results["summary"]
  again = launch(*shrink)
  assert again.returncode == 0 and again.stderr.count("done before") == 3
