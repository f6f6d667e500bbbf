"""The bad-input table: each case is a mistake a user can make, run through launch.py as a user would.

    python -m tests.bad_inputs        # runs every case and prints the README's markdown table

Each case: an id, what is wrong, the launch arguments ({tmp} is a scratch folder, {workdir} the run's workdir),
an optional setup that writes files into {tmp}, and a fragment the one-line message must contain.
"""

import dataclasses
import fcntl
import json
import os
import subprocess
import sys
import tempfile
from typing import Callable

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAST = ["--config.num_steps=20", "--config.model.widths=(16,)"]


def _npz(tmp, **arrays):
  np.savez(os.path.join(tmp, "data.npz"), **arrays)


def _good_arrays(n=64, size=8):
  rng = np.random.default_rng(0)
  return {"train_image": rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8),
          "train_label": rng.integers(0, 2, n)}


def _broken_config(tmp):
  with open(os.path.join(tmp, "broken.py"), "w") as f:
    f.write("def get_config(:\n")


def _config_with_unknown_field(tmp):
  with open(os.path.join(tmp, "custom.py"), "w") as f:
    f.write("from configs import erm_cmnist\n\ndef get_config():\n  config = erm_cmnist.get_config()\n"
            "  config.dataset.colour_flip = 0.2\n  return config\n")


def _corrupt_npz(tmp):
  with open(os.path.join(tmp, "data.npz"), "wb") as f:
    f.write(b"PK\x03\x04 this is not a zip archive")


def _other_run(tmp, schema_version=2):
  workdir = os.path.join(tmp, "work")
  with open(os.path.join(workdir, "config.json"), "w") as f:
    json.dump({"seed": 123} if schema_version == 1 else {"schema_version": schema_version, "seed": 123}, f)
  with open(os.path.join(workdir, "results.json"), "w") as f:
    json.dump({"summary": {}}, f)


_HELD_LOCKS = []


def _locked(tmp):
  lock = open(os.path.join(tmp, "work", ".lock"), "a+")
  fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
  _HELD_LOCKS.append(lock)  # held by this (test) process, as a running run would hold it


def _a_file(tmp):
  with open(os.path.join(tmp, "a_file"), "w") as f:
    f.write("x")


@dataclasses.dataclass(frozen=True)
class Case:
  id: str
  problem: str
  args: tuple[str, ...]
  expected: str
  setup: Callable[[str], None] | None = None
  workdir: str = "{tmp}/work"
  fast: tuple[str, ...] = tuple(FAST)  # what shortens the run (its model's fields differ by config)
  writes_nothing: bool = False  # refused before the workdir is touched: it holds only what was there


ARRAYS = ("--config=configs/arrays.py", "--config.dataset.path={tmp}/data.npz")
LOCALIZE = "--config=configs/localize/mnist_patch_mlp.py"
SITAR = "--config=configs/sitar/colored_mnist.py"


def _refused_field(field: str, value: str, expected: str, config: str = "", fast=tuple(FAST)) -> "Case":
  """A field set to a value outside its declared constraint: one line naming it, nothing written."""
  return Case(f"{field.replace('.', '_')}={value}", f"{field} = {value}",
              ((config,) if config else ()) + (f"--config.{field}={value}",), f"config field {field}={value} in "
              f"{(config or '--config=configs/erm_cmnist.py').split('=', 1)[1]}: must be {expected}",
              fast=fast, writes_nothing=True)


# Values that once ended in a traceback or ran (one each); each field's whole range is tried in-process by
# tests/test_config_constraints.py.
OUT_OF_RANGE = [
    _refused_field("batch_size", "0", "an int >= 1"),
    _refused_field("batch_size", "-4", "an int >= 1"),
    _refused_field("seed", "-1", "an int >= 0 and <= 2147483647"),
    _refused_field("eval_batch_size", "-1", "an int >= 1"),
    _refused_field("eval_batch_size", "0", "an int >= 1"),
    _refused_field("eval_every_steps", "0", "an int >= 1"),
    _refused_field("checkpoint_every_steps", "0", "an int >= 1"),
    _refused_field("log_every_steps", "0", "an int >= 1"),
    _refused_field("localize.chunk_size", "-1", "an int >= 1", LOCALIZE),
    _refused_field("localize.noise_seed_offset", "-1", "an int >= 1", LOCALIZE),
    _refused_field("localize.branch_steps", "-1", "an int >= 0", LOCALIZE),
    _refused_field("model.latent_dim", "0", "an int >= 1", SITAR, fast=("--config.num_steps=20",)),
]

CASES = [
    Case("unknown_field", "unknown config field", ("--config.no_such_field=1",),
         "unknown config field --config.no_such_field"),
    Case("misspelled_field", "misspelled nested field", ("--config.optimizer.learnig_rate=0.1",),
         "did you mean 'learning_rate'"),
    Case("unknown_field_in_file", "a config file setting a field nothing declares", ("--config={tmp}/custom.py",),
         "unknown config field dataset.colour_flip", _config_with_unknown_field),
    Case("unknown_dataset_field", "a field the dataset does not declare", ("--config.dataset.manual_dirr=/data",),
         "unknown config field --config.dataset.manual_dirr"),
    Case("unknown_model_setting", "a setting the model does not take", ("--config.model.latent_dim=3",),
         "has no field 'model.latent_dim'; model 'mlp' declares"),
    Case("section_as_value", "a whole section set to a value", ("--config.optimizer=adam",), "is a section"),
    Case("bad_config_argument", "a config argument its file refuses",
         ("--config=configs/localize/gpu_scale.py:cifar11,resnet18",), "with dataset in ('cifar10'",
         writes_nothing=True),
    Case("unknown_regime", "unknown dataset regime", ("--config.dataset.regime=minority_only",),
         "dataset.regime='minority_only' in configs/erm_cmnist.py: must be one of '', 'majority_only'"),
    Case("wrong_type", "wrong type", ("--config.num_steps=ten",), "--config.num_steps=ten"),
    Case("negative_lr", "out-of-range value", ("--config.optimizer.learning_rate=-1.0",),
         "optimizer.learning_rate=-1.0 in configs/erm_cmnist.py: must be a number > 0"),
    Case("bad_probability", "probability outside [0, 1]", ("--config.dataset.label_flip=1.5",),
         "dataset.label_flip=1.5 in configs/erm_cmnist.py: must be a number >= 0 and <= 1"),
    Case("zero_steps", "no training steps", ("--config.num_steps=0",), "num_steps=0 in configs/erm_cmnist.py: must be an int >= 1"),
    Case("unknown_dataset", "unknown dataset name", ("--config.dataset.name=imagenet",),
         "unknown dataset 'imagenet'"),
    Case("unknown_model", "unknown model name", ("--config.model.name=resnet1001",), "unknown model 'resnet1001'"),
    Case("unknown_experiment", "unknown experiment name", ("--config.experiment=trian",),
         "unknown experiment 'trian'"),
    Case("unknown_optimizer", "unknown optimizer", ("--config.optimizer.name=adamm",),
         "optimizer.name='adamm' in configs/erm_cmnist.py: must be one of 'sgd', 'adam', 'adamw'"),
    Case("unknown_compute_dtype", "unknown compute precision", ("--config.compute_dtype=float16",),
         "compute_dtype='float16' in configs/erm_cmnist.py: must be one of 'float32', 'bfloat16'"),
    Case("unknown_augment", "unknown augmentation", ("--config.augment=mixup",),
         "augment='mixup' in configs/erm_cmnist.py: must be one of 'none', 'crop_flip'"),
    Case("huge_batch", "batch larger than the data", ("--config.batch_size=100000",),
         "batch_size=100000 in configs/erm_cmnist.py: must be at most the 3000 examples of the training split"),
    Case("indivisible_batch", "batch not divisible by devices", ("--config.batch_size=127",
                                                                  "--config.num_cpu_devices=2"),
         "batch_size=127 in configs/erm_cmnist.py: must be a multiple of the 2 devices"),
    Case("bad_fractions", "split fractions not summing to 1", ("--config.dataset.split_fractions=(0.5,0.1,0.1,0.1)",),
         "split_fractions must be 4 positive numbers summing to 1"),
    Case("bad_image_size", "unsupported image size", ("--config.dataset.image_size=20",),
         "dataset.image_size=20 in configs/erm_cmnist.py: must be one of 28, 14"),
    Case("missing_config", "missing config file", ("--config={tmp}/nope.py",), "not found"),
    Case("broken_config", "config file that does not load", ("--config={tmp}/broken.py",), "cannot load config",
         _broken_config),
    Case("extra_argument", "stray positional argument", ("train",), "unexpected arguments ['train']"),
    Case("tfds_not_prepared", "missing dataset files (tfds)",
         ("--config.dataset.source=tfds", "--config.dataset.data_dir={tmp}/tfds"), "is not prepared under"),
    Case("missing_npz", "missing dataset file", ARRAYS, "not found"),
    Case("corrupt_npz", "corrupt dataset file", ARRAYS, "cannot be read as .npz", _corrupt_npz),
    Case("wrong_image_shape", "wrong image shape", ARRAYS, "images must be [N, H, W] or [N, H, W, C]",
         lambda tmp: _npz(tmp, train_image=np.zeros((8, 64)), train_label=np.zeros(8, int))),
    Case("label_out_of_range", "label out of range", (*ARRAYS, "--config.dataset.num_classes=2"),
         "labels must lie in [0, 2)",
         lambda tmp: _npz(tmp, **{**_good_arrays(), "train_label": np.full(64, 5)})),
    Case("nan_in_data", "NaN in the images", ARRAYS, "NaN",
         lambda tmp: _npz(tmp, train_image=np.full((8, 4, 4), np.nan), train_label=np.zeros(8, int))),
    Case("empty_split", "empty split", ARRAYS, "split 'test' is empty",
         lambda tmp: _npz(tmp, **_good_arrays(), test_image=np.zeros((0, 8, 8, 3), np.uint8),
                          test_label=np.zeros(0, int))),
    Case("mixed_shapes", "splits of different image shapes", ARRAYS, "differ in image shape",
         lambda tmp: _npz(tmp, **_good_arrays(), test_image=np.zeros((4, 9, 9, 3), np.uint8),
                          test_label=np.zeros(4, int))),
    Case("missing_pretrained", "missing pretrained weights file",
         ("--config.model.name=resnet18", "--config.model.widths=(8,8,8,8)",
          "--config.model.pretrained={tmp}/resnet18.pth"),
         "resnet18.pth"),
    Case("model_settings_mismatch", "model settings that do not fit the model",
         ("--config.model.name=resnet18",), "stage_sizes and widths must have one entry per stage"),
    Case("unwritable_workdir", "unwritable workdir", (), "cannot write to workdir", _a_file,
         workdir="{tmp}/a_file/work"),
    Case("workdir_in_use", "workdir in use by another run", (), "is in use by a running run", _locked),
    Case("workdir_other_config", "workdir holding a run of another config", (), "holds a run with another config",
         _other_run),
    Case("workdir_old_version", "workdir holding a run of an earlier version", (), "earlier version of jaxshort",
         lambda tmp: _other_run(tmp, schema_version=1)),
    Case("diverged", "training diverges (NaN/inf)",
         ("--config.optimizer.name=sgd", "--config.optimizer.learning_rate=1e30"), "is not finite at step"),
    Case("batch_beyond_the_data", "batch larger than the training split, found once the data is built",
         ("--config.batch_size=4000",), "batch_size=4000 in configs/erm_cmnist.py: must be at most the 3000",
         writes_nothing=True),
    *OUT_OF_RANGE,
]


def run_case(case: Case, tmp: str) -> subprocess.CompletedProcess:
  """Sets the case up in `tmp` (with a workdir holding a file that must survive) and runs launch.py."""
  os.makedirs(os.path.join(tmp, "work"), exist_ok=True)
  with open(os.path.join(tmp, "work", "keep.txt"), "w") as f:
    f.write("precious")
  if case.setup:
    case.setup(tmp)
  config_file = [a for a in case.args if a.startswith("--config=")]  # absl wants it before any override
  config_file = config_file or ["--config=configs/erm_cmnist.py"]
  others = [a for a in case.args if not a.startswith("--config=")]
  args = [a.format(tmp=tmp) for a in (*config_file, *case.fast, *others, f"--workdir={case.workdir}")]
  try:
    return subprocess.run([sys.executable, os.path.join(REPO, "launch.py"), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
  finally:
    while _HELD_LOCKS:
      _HELD_LOCKS.pop().close()


def markdown_table() -> str:
  rows = ["| case | what is wrong | message (stderr, exit code 2) |", "| --- | --- | --- |"]
  for case in CASES:
    with tempfile.TemporaryDirectory() as tmp:
      result = run_case(case, tmp)
      message = result.stderr.strip().splitlines()[-1].replace(tmp, "<tmp>").replace("|", "\\|")
    rows.append(f"| `{case.id}` | {case.problem} | `{message}` |")
  return "\n".join(rows)


if __name__ == "__main__":
  print(markdown_table())
