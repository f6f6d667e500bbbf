"""Multi-process training for real: two JAX processes on this machine (jax.distributed, a coordinator on
127.0.0.1, one CPU device each) train the tiny ERM run to the parameters one process with two devices reaches,
and only process 0 writes into the workdir."""

import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from configs import erm_cmnist
from jaxshort import experiments
from jaxshort.training.checkpoint import load_variables
from tests.conftest import REPO, shrink


def tiny_config():
  return shrink(erm_cmnist.get_config(), 12, 6, model__widths=(32,), dataset__image_size=14, batch_size=32,
                eval_batch_size=100, distributed="off")


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_train_as_one(tmp_path):
  port = free_port()
  workers = [subprocess.Popen([sys.executable, "-m", "tests.distributed_worker", str(port), "2", str(i),
                               str(tmp_path / "two"), str(tmp_path / f"params{i}.npz")], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for i in range(2)]
  try:
    outputs = [w.communicate(timeout=240)[0] for w in workers]
  finally:
    for worker in workers:
      worker.kill()
  for worker, output in zip(workers, outputs):
    assert worker.returncode == 0, output[-3000:]
  experiments.run_in_workdir(tiny_config(), str(tmp_path / "one"))  # this process: 2 CPU devices (conftest)
  one = [np.asarray(p) for p in __import__("jax").tree.leaves(
      load_variables(str(tmp_path / "one" / "checkpoints"))["params"])]
  for i in range(2):
    two = np.load(tmp_path / f"params{i}.npz")
    assert list(two["writes"]) == [], f"process {i} wrote into the workdir"
    for a, b in zip(one, (two[f"arr_{k}"] for k in range(len(one)))):
      np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  written = sorted(os.listdir(tmp_path / "two"))
  assert "results.json" in written and "metrics.jsonl" in written
  assert sorted(os.listdir(tmp_path / "one")) == written
