"""What the training loop costs beyond the step: the full loop's time per step against the bare scanned step of
the same model, objective and data, measured in the same process.

    python benchmarks/loop_overhead.py              # about 3 minutes on a 2-core CPU
    python benchmarks/loop_overhead.py --case erm_mlp

Cases (each in its own process, with the device count `launch.py` would choose for its model):
  erm_mlp        ERM on Colored MNIST, the MLP 256-256, batch 128 (configs/erm_cmnist.py)
  small_cnn      the small CNN on the skewed MNIST-patch split, batch 64 (configs/localize/mnist_patch_cnn.py)
  sitar_vae      the SITAR objective on the VAE backbone, batch 128 (configs/sitar/colored_mnist.py)
  localize_pair  the clean and the skewed run of a localization pair from one theta_0, the MLP
                 (configs/localize/mnist_patch_mlp.py)

For each: `bare`, the jitted step dispatched as the loop dispatches it (sharding.scan_steps: scanned over the
loop's chunks between logs, or, for conv models on a CPU, one step per dispatch; steps.make_train_chunk), on
batch indices already on the device, nothing else; `bare, the other dispatch` the same with the other choice
(what the rule saves); `loop (no eval)`, training.loop.train_classifier with evaluation and the checkpoint only
at the end (logging at the config's cadence); `loop (config)`, the config's own evaluation and
checkpoint cadence. Every timing is of a second run, after one that compiled the same programs; the ratios are
per step against `bare`. Targets (the loop issue): at most 1.15x without evaluation, 1.5x with the config's.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

CASES = {  # name -> (config module, steps timed)
    "erm_mlp": ("configs.erm_cmnist", 1000),
    "small_cnn": ("configs.localize.mnist_patch_cnn", 600),
    "sitar_vae": ("configs.sitar.colored_mnist", 1000),
    "localize_pair": ("configs.localize.mnist_patch_mlp", 600),
}


def measure(case: str) -> dict:
  """Times one case in this process (see the module docstring); returns seconds per step."""
  import importlib  # pylint: disable=import-outside-toplevel
  module, num_steps = CASES[case]
  config = importlib.import_module(module).get_config()

  from jaxshort import config as config_lib  # pylint: disable=import-outside-toplevel
  from jaxshort.training import sharding  # pylint: disable=import-outside-toplevel
  sharding.setup_devices(0, "off", compilation_cache="", model_names=[config.model.name])

  import jax  # pylint: disable=import-outside-toplevel
  from jaxshort import data as data_lib  # pylint: disable=import-outside-toplevel
  from jaxshort import models  # pylint: disable=import-outside-toplevel
  from jaxshort.data.pipeline import chunk_indices  # pylint: disable=import-outside-toplevel
  from jaxshort.methods.common import build_backbone  # pylint: disable=import-outside-toplevel
  from jaxshort.methods.vae import sitar_hparams, sitar_objective  # pylint: disable=import-outside-toplevel
  from jaxshort.training.loop import train_classifier  # pylint: disable=import-outside-toplevel
  from jaxshort.training.optimizers import make_optimizer  # pylint: disable=import-outside-toplevel
  from jaxshort.training.state import create_train_state  # pylint: disable=import-outside-toplevel
  from jaxshort.training.steps import cross_entropy_objective, make_train_chunk  # pylint: disable=import-outside-toplevel

  config = config_lib.with_overrides(config, {"num_steps": num_steps, "progress_every_seconds": 1e9}, "benchmark")
  with config.unlocked():
    config.experiment = "train"
  dataset = data_lib.build_dataset(config.dataset, config.seed)
  if case == "sitar_vae":
    model = build_backbone(config, dataset, "sitar_vae")
    loss_fn = sitar_objective(sitar_hparams(config), dataset.num_classes, dataset.num_cues)
  else:
    model = models.build_model(config.model, dataset.num_classes)
    loss_fn = cross_entropy_objective
  roles = {"small_cnn": ["skewed_train"], "localize_pair": ["clean_train", "skewed_train"]}.get(case, ["train"])
  splits = [dataset.roles[role] for role in roles]
  variables = models.initial_variables(config.model, model, jax.random.key(0), dataset.image_shape)

  def host_copy(tree):  # a step donates its state's buffers: each run starts from its own copy
    return jax.tree.map(np.array, tree)

  def loop(cadence: dict) -> float:
    run_config = config_lib.with_overrides(config, cadence, "benchmark")
    seconds = []
    for _ in range(2):  # the first compiles
      with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        for i, split in enumerate(splits):
          train_classifier(run_config, dataset, model, os.path.join(tmp, str(i)), variables=host_copy(variables),
                           train_split=split, loss_fn=loss_fn)
        seconds.append(time.perf_counter() - start)
    return seconds[-1] / (num_steps * len(splits))

  def bare(scan: bool) -> float:
    mesh = sharding.data_mesh()
    chunk = make_train_chunk(loss_fn, config.compute_dtype, config.augment, sharding.batch_sharding(mesh), scan)
    rng = jax.random.key(1)
    length = config.log_every_steps  # the loop's own chunks between logs: like for like
    seconds = []
    for _ in range(2):  # the first compiles
      total = 0.0
      for split_name in splits:
        split = dataset.splits[split_name]
        data = sharding.place(split, sharding.replicated(mesh))
        index = chunk_indices(len(split["label"]), config.batch_size, 0, 0, num_steps)
        chunks = [sharding.place(index[k:k + length], sharding.batch_sharding(mesh, 1))
                  for k in range(0, num_steps, length)]
        state = sharding.replicate(create_train_state(model, host_copy(variables),
                                                      make_optimizer(config.optimizer, num_steps), None,
                                                      models.input_normalization(config.model)), mesh)
        jax.block_until_ready((data, chunks, state))
        start = time.perf_counter()
        for steps in chunks:
          state, metrics = chunk(state, data, steps, rng)
        jax.block_until_ready((state, metrics))
        total += time.perf_counter() - start
      seconds.append(total)
    return seconds[-1] / (num_steps * len(splits))

  every = {"eval_every_steps": num_steps, "checkpoint_every_steps": num_steps}
  scan = sharding.scan_steps(config.model.name)  # the loop's own dispatch rule
  result = {"case": case, "devices": jax.device_count(), "steps": num_steps * len(splits),
            "cadence": {k: int(config[k]) for k in ("log_every_steps", "eval_every_steps", "checkpoint_every_steps")},
            "dispatch": "scanned" if scan else "one step per dispatch",
            "bare": bare(scan), "bare_other": bare(not scan), "loop_no_eval": loop(every), "loop_config": loop({})}
  return result


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--case", choices=list(CASES), help="one case, in this process (prints JSON)")
  args = parser.parse_args()
  if args.case:
    print(json.dumps(measure(args.case)))
    return
  load = os.getloadavg()[0]
  rows = []
  for case in CASES:
    finished = subprocess.run([sys.executable, __file__, "--case", case], capture_output=True, text=True,
                              check=True, cwd=REPO)
    rows.append(json.loads(finished.stdout.strip().splitlines()[-1]))
  print(f"load average at the start: {load:.2f}; {os.cpu_count()} CPUs")
  print("| case | devices | cadence (log / eval / ckpt) | dispatch | bare ms/step | bare, the other dispatch | "
        "loop, no eval | loop, config's cadence |")
  print("|---|---|---|---|---|---|---|---|")
  for r in rows:
    cadence = " / ".join(str(v) for v in r["cadence"].values())
    print(f"| {r['case']} | {r['devices']} | {cadence} | {r['dispatch']} | {1e3 * r['bare']:.2f} | "
          f"{1e3 * r['bare_other']:.2f} ({r['bare_other'] / r['bare']:.2f}x) | "
          f"{1e3 * r['loop_no_eval']:.2f} ({r['loop_no_eval'] / r['bare']:.2f}x) | "
          f"{1e3 * r['loop_config']:.2f} ({r['loop_config'] / r['bare']:.2f}x) |")


if __name__ == "__main__":
  main()
