"""configs/localize/gpu_scale.py at tiny sizes: each dataset's localization view (built from tiny files in the
official formats, see fake_data.py) and one short `localize` run per model family, the dataset varied across them."""

import json
import os
import subprocess
import sys

import ml_collections
import numpy as np
import pytest

from configs.localize import gpu_scale
from tests import fake_data
from jaxshort import experiments
from jaxshort.data import build_dataset, skews
from jaxshort.errors import UserError
from tests.conftest import REPO, shrink

# Waterbirds-like groups large enough for a natural pair of 16: train skewed, test balanced within class.
WATERBIRDS_GROUPS = {0: {(0, 0): 12, (0, 1): 4, (1, 0): 4, (1, 1): 12},
                     1: {(0, 0): 1, (0, 1): 1, (1, 0): 1, (1, 1): 1},
                     2: {(0, 0): 3, (0, 1): 3, (1, 0): 3, (1, 1): 3}}
# Model settings small enough for a CPU step in well under a second (docs/models.md, "Small members").
# One layer per stage where the family allows it: compilation, not arithmetic, is what a tiny run spends time on.
TINY_MODELS = {"resnet18": {"widths": (4, 8, 8, 8), "stage_sizes": (1, 1, 1, 1)},
               "vgg16_bn": {"widths": (4, 4, 8, 8, 8), "depths": (1, 1, 1, 1, 1), "hidden": 16},
               "deit_s": {"embed_dim": 16, "depth": 4, "num_heads": 2},
               "convnext_t": {"depths": (1, 1, 1, 1), "dims": (8, 8, 16, 16)}}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, dict]:
  """Dataset config fields pointing each dataset at its tiny files."""
  root = tmp_path_factory.mktemp("data")
  fake_data.cifar_tarball(str(root / "cifar10"), per_batch=8)
  fake_data.waterbirds_folder(str(root / "waterbirds"), groups_per_split=WATERBIRDS_GROUPS)
  fake_data.celeba_folder(str(root / "celeba"), num_images=48)
  return {"cifar10": {"manual_dir": str(root / "cifar10"), "source": "tarball", "verify_checksum": False,
                      "val_fraction": 0.2},
          "waterbirds": {"manual_dir": str(root / "waterbirds"), "majority_fraction": 0.75},
          "celeba": {"manual_dir": str(root / "celeba"), "source": "files", "verify_checksum": False,
                     "majority_fraction": 0.75}}


def tiny_config(arg: str, dataset_fields: dict) -> ml_collections.ConfigDict:
  """The gpu_scale config of `arg` with tiny files, model, batches and steps."""
  config = gpu_scale.get_config(arg)
  config.dataset.update(dataset_fields)
  config.model.update(TINY_MODELS[config.model.name])
  config = shrink(config, 2, batch_size=4, eval_batch_size=8, optimizer__warmup_steps=0,
                  localize__branch_steps=0,  # the launch test below runs a branch point
                  localize__chunk_size=8, localize__probes=False, localize__replicates=0)
  config.localize.interventions = ()
  return config


def test_config_argument_and_model_settings_follow_the_resolution():
  config = gpu_scale.get_config("cifar10,resnet18")
  assert config.dataset.pair == "synthetic" and config.dataset.image_size == 0 and config.model.stem == "cifar"
  config = gpu_scale.get_config("waterbirds,vgg16_bn")
  assert config.dataset.pair == "natural" and config.dataset.image_size == 224
  assert config.model.pool_size == 7 and config.model.hidden == 4096
  assert gpu_scale.get_config("celeba,deit_s").model.patch_size == 16
  assert gpu_scale.get_config("celeba,deit_s,res=32").model.patch_size == 4
  assert gpu_scale.get_config("cifar10,resnet18,res=16").dataset.image_size == 16
  for bad in ("mnist,resnet18", "cifar10,vgg11", "cifar10,resnet18,size=3", "cifar10,convnext_t,res=48"):
    with pytest.raises(ValueError):
      gpu_scale.get_config(bad)


@pytest.mark.parametrize("dataset,image_size", [("cifar10", 16), ("waterbirds", 16), ("celeba", 12)])
def test_view_has_the_five_roles_and_one_example_order(files, dataset, image_size):
  config = gpu_scale.get_config(f"{dataset},resnet18")
  config.dataset.update({**files[dataset], "image_size": image_size})
  view = build_dataset(config.dataset, seed=0)
  assert view.roles == skews.LOCALIZATION_ROLES and set(view.splits) == set(skews.LOCALIZATION_SPLITS)
  assert view.image_shape == (image_size, image_size, 3)
  clean, skewed = view.splits["train_clean"], view.splits["train_skewed"]
  assert len(clean["id"]) == len(skewed["id"]) > 0
  assert np.array_equal(clean["label"], skewed["label"])
  if dataset == "cifar10":  # synthetic cue: the same examples in the same order, the cue only in the skewed copy
    assert np.array_equal(clean["id"], skewed["id"]) and (clean["cue"] == -1).all()
    assert np.mean(skewed["cue"] == skewed["label"]) > 0.5 and view.info["rho"] == 0.95
  else:  # natural cue: a shared example sits at the same position in both subsets
    shared = np.isin(clean["id"], skewed["id"])
    assert shared.any() and np.array_equal(clean["id"][shared], skewed["id"][shared])
    assert len(set(np.bincount(clean["group"], minlength=4))) == 1  # D_c is group-balanced
    assert np.mean(skewed["cue"] == np.array(view.info["aligned_cues"])[skewed["label"]]) == 0.75
    assert view.info["pair"] == "natural" and view.info["test_source"] == "test"


def test_view_errors_are_one_clear_message(files):
  config = gpu_scale.get_config("cifar10,resnet18")
  config.dataset.update(files["cifar10"])
  config.dataset.pair = "natural"
  with pytest.raises(UserError, match="needs a dataset with a natural cue"):
    build_dataset(config.dataset, seed=0)
  config.dataset.pair = "counterfactual"
  with pytest.raises(UserError, match="dataset.pair must be one of"):
    build_dataset(config.dataset, seed=0)


def check_results(workdir: str, blocks: list[str]) -> dict:
  """results.json of a finished run: both hybrid tables end exactly at the models they splice."""
  results = json.load(open(os.path.join(workdir, "results.json")))
  both = {"empty_equals_first_model": True, "all_equals_second_model": True}
  assert results["checks"] == {"pair": both, "noise_floor": both}
  assert results["model"]["blocks"] == blocks
  assert len(results["hybrid_tables"]["pair"]["masks"]) == 2 ** len(blocks)
  return results


@pytest.mark.parametrize("arg,blocks", [
    ("waterbirds,vgg16_bn,res=32", ["stage1", "stage2", "stage3", "stage4", "stage5", "head"]),
    ("celeba,deit_s,res=16", ["embed", "stage1", "stage2", "stage3", "stage4", "head"]),
    ("cifar10,convnext_t", ["stem", "stage1", "stage2", "stage3", "stage4", "head"]),
])
def test_localize_runs_at_tiny_size(files, tmp_path, arg, blocks):
  config = tiny_config(arg, files[arg.split(",")[0]])
  experiments.run(config, str(tmp_path))
  results = check_results(str(tmp_path), blocks)
  assert results["dataset"]["pair"] == config.dataset.pair


@pytest.mark.slow
def test_launch_runs_the_gpu_scale_config(files, tmp_path):
  """The documented command, with tiny settings as --config overrides: cifar10 and resnet18."""
  fields = {**{f"dataset.{k}": v for k, v in files["cifar10"].items()},
            **{f"model.{k}": v for k, v in TINY_MODELS["resnet18"].items()},
            "batch_size": 4, "eval_batch_size": 8, "num_steps": 2, "eval_every_steps": 2,
            "checkpoint_every_steps": 2, "log_every_steps": 2, "optimizer.warmup_steps": 0,
            "localize.branch_steps": 1, "localize.chunk_size": 8, "localize.interventions": "('freeze:stem',)",
            "num_cpu_devices": 2}
  overrides = [f"--config.{k}={v}" for k, v in fields.items()]
  workdir = str(tmp_path / "run")
  done = subprocess.run([sys.executable, "launch.py", "--config", "configs/localize/gpu_scale.py:cifar10,resnet18,res=16",
                         "--workdir", workdir, *overrides], cwd=REPO, capture_output=True, text=True, timeout=300)
  assert done.returncode == 0, done.stderr[-2000:]
  results = check_results(workdir, ["stem", "stage1", "stage2", "stage3", "stage4", "head"])
  assert results["dataset"]["image_shape"] == [16, 16, 3] and results["dataset"]["rho"] == 0.95
  assert list(results["interventions"]["runs"]) == ["freeze:stem"]
