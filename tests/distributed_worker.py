"""One process of a multi-process run on this machine (tests/test_distributed.py): joins the others through
jax.distributed with a coordinator on 127.0.0.1, trains the tiny ERM run of the test through launch.py's path
(experiments.run_in_workdir), and saves its final parameters. A process other than 0 records, with an audit
hook, each file it opens for writing, renames, removes or creates under the workdir, saved with the parameters as
`writes`: there should be none (the workdir, results, metrics, config and figures are process 0's; in
checkpoints/, orbax has every process write the metadata of its own shards).

    python -m tests.distributed_worker PORT NUM_PROCESSES PROCESS_ID WORKDIR OUT.npz
"""

import sys

import jax

PORT, NUM_PROCESSES, PROCESS_ID, WORKDIR, OUT = sys.argv[1:6]
jax.config.update("jax_num_cpu_devices", 1)
jax.config.update("jax_cpu_collectives_implementation", "gloo")  # collectives across processes on CPU
jax.distributed.initialize(f"127.0.0.1:{PORT}", int(NUM_PROCESSES), int(PROCESS_ID))

# pylint: disable=wrong-import-position
import os

import numpy as np

from jaxshort import experiments
from jaxshort.training.checkpoint import load_variables
from tests.test_distributed import tiny_config

writes = []
if int(PROCESS_ID):
  root = os.path.abspath(WORKDIR)
  checkpoints = os.path.join(root, "checkpoints")  # orbax: each process the metadata of its own shards

  def ours(path) -> bool:
    path = os.path.abspath(os.fsdecode(path)) if isinstance(path, (str, bytes, os.PathLike)) else ""
    return path.startswith(root) and not path.startswith(checkpoints)

  def audit(event, args):
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND
    if event == "open" and ours(args[0]) and (
        any(c in (args[1] or "") for c in "wax+") or (isinstance(args[2], int) and args[2] & write_flags)):
      writes.append(f"open {args[0]}")
    elif event == "os.mkdir" and ours(args[0]) and not os.path.exists(args[0]):  # makedirs(exist_ok) only looks
      writes.append(f"{event} {args[0]}")
    elif event in ("os.rename", "os.remove", "os.rmdir", "shutil.rmtree") and ours(args[0]):
      writes.append(f"{event} {args[0]}")

  sys.addaudithook(audit)
experiments.run_in_workdir(tiny_config(), WORKDIR)
params = jax.tree.leaves(load_variables(f"{WORKDIR}/checkpoints")["params"])
np.savez(OUT, *[np.asarray(p) for p in params], writes=np.array(writes, dtype=str))
