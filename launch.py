"""Runs one jaxshort config into a workdir.

    python launch.py                                     # configs/default.py into runs/default-<time>
    python launch.py --config configs/x.py --config.seed=3 --workdir runs/x3

All logic lives in the library (jaxshort.config reads the config, jaxshort.experiments runs it); this file only
hands one to the other. A mistake in the input (an unknown config field, a bad value, a missing dataset file) is
one line on stderr and exit code 2 (jaxshort.cli); a run started again on the same workdir resumes from its last
checkpoint.
"""

import os
import sys
import time

from absl import flags, logging

from jaxshort import cli
from jaxshort import config as config_lib
from jaxshort import experiments
from jaxshort.training import sharding

DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", "default.py")

flags.DEFINE_string("config", DEFAULT_CONFIG, "Config file with get_config() ('file.py' or 'file.py:argument'); "
                    "its fields are set with --config.field=value.")
flags.DEFINE_string("workdir", None, "Where the run writes; default runs/<config>-<time>.")
flags.DEFINE_bool("overwrite", False, "Reuse a workdir that holds a run of another config.")


def default_workdir(config_spec: str) -> str:
  name = os.path.splitext(os.path.basename(config_lib.split_spec(config_spec)[0]))[0]
  return os.path.join("runs", f"{name}-{time.strftime('%Y%m%d-%H%M%S')}")


def main(argv: list[str], overrides: list[str]) -> None:
  if len(argv) > 1:
    cli.fail(f"unexpected arguments {argv[1:]}; set config fields with --config.field=value")
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # orbax and tfds log every step of a save at INFO
  config = config_lib.load(flags.FLAGS.config, overrides)
  sharding.setup_devices(config.num_cpu_devices, config.distributed, model_names=config_lib.model_names(config),
                         batch_sizes=config_lib.batch_sizes(config))
  workdir = flags.FLAGS.workdir or default_workdir(flags.FLAGS.config)
  print(f"jaxshort: {config.experiment} -> {workdir}", file=sys.stderr)
  results = experiments.run_in_workdir(config, workdir, overwrite=flags.FLAGS.overwrite,
                                       source=config_lib.split_spec(flags.FLAGS.config)[0])
  summary = results.get("summary", {})
  print("\n".join(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}" for k, v in summary.items()))
  print(f"results: {os.path.join(workdir, 'results.json')}")


if __name__ == "__main__":
  cli.run(main)
