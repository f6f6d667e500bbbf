"""One process of a multi-process run on this machine (tests/test_distributed.py): joins the others through
jax.distributed with a coordinator on 127.0.0.1, trains the tiny ERM run of the test through launch.py's path
(experiments.run_in_workdir), and saves its final parameters. A process other than 0 records each file it opens
under the workdir for writing, saved with the parameters as `writes`: there should be none (results, metrics,
config and figures are process 0's; in checkpoints/, orbax has every process write the metadata of its own
shards).

    python -m tests.distributed_worker PORT NUM_PROCESSES PROCESS_ID WORKDIR OUT.npz
"""

import sys

import jax

PORT, NUM_PROCESSES, PROCESS_ID, WORKDIR, OUT = sys.argv[1:6]
jax.config.update("jax_num_cpu_devices", 1)
jax.config.update("jax_cpu_collectives_implementation", "gloo")  # collectives across processes on CPU
jax.distributed.initialize(f"127.0.0.1:{PORT}", int(NUM_PROCESSES), int(PROCESS_ID))

# pylint: disable=wrong-import-position
import builtins
import os

import numpy as np

from jaxshort import experiments
from jaxshort.training.checkpoint import load_variables
from tests.test_distributed import tiny_config

writes = []
if int(PROCESS_ID):
  plain_open = builtins.open

  def guarded_open(file, mode="r", *args, **kwargs):
    path = os.path.abspath(str(file))
    checkpoints = os.path.join(os.path.abspath(WORKDIR), "checkpoints")  # orbax: each process its own shards
    if any(c in mode for c in "wax+") and path.startswith(os.path.abspath(WORKDIR)) and not path.startswith(
        checkpoints):
      writes.append(str(file))
    return plain_open(file, mode, *args, **kwargs)

  builtins.open = guarded_open
experiments.run_in_workdir(tiny_config(), WORKDIR)
params = jax.tree.leaves(load_variables(f"{WORKDIR}/checkpoints")["params"])
np.savez(OUT, *[np.asarray(p) for p in params], writes=np.array(writes, dtype=str))
