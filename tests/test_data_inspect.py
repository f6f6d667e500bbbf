"""The inspect CLI: group counts printed, one PNG per split, one-line errors; configs/datasets.py per dataset."""

import importlib.util
import os
import subprocess
import sys

import pytest

from tests import fake_data
from jaxshort.data import build_dataset, waterbirds
from jaxshort.data.inspect import example_grid, inspect_dataset
from tests.conftest import REPO



def load_datasets_config():
  spec = importlib.util.spec_from_file_location("datasets_config", os.path.join(REPO, "configs", "datasets.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_inspect_writes_a_grid_per_split_with_group_rows(tmp_path):
  config = waterbirds.default_config()
  config.update(manual_dir=fake_data.waterbirds_folder(str(tmp_path / "files")), image_size=8)
  dataset = build_dataset(config, seed=0)
  grid, names = example_grid(dataset, dataset.splits["train"], per_row=3, seed=0)
  assert grid.shape == (4, 3, 8, 8, 3)
  assert names == ["landbird|land", "landbird|water", "waterbird|land", "waterbird|water"]
  assert (grid[2, 1:] == 255).all()  # one waterbird on land in training: the rest of its row is blank
  lines = inspect_dataset(dataset, str(tmp_path / "out"), per_group=3)
  assert "landbird|land 12" in lines[1] and "waterbird|land 1" in lines[1]
  assert sorted(os.listdir(tmp_path / "out")) == ["test.png", "train.png", "val.png"]


@pytest.mark.slow
def test_cli_on_cifar_tarball_and_one_line_error(tmp_path):
  fake_data.cifar_tarball(str(tmp_path / "cifar"), per_batch=4)
  command = [sys.executable, "-m", "jaxshort.data.inspect", "--config", "configs/datasets.py:cifar10",
             f"--config.dataset.manual_dir={tmp_path / 'cifar'}", "--config.dataset.verify_checksum=False",
             f"--out={tmp_path / 'out'}", "--per_group=2"]
  result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
  assert result.returncode == 0, result.stderr
  assert "train" in result.stdout and "airplane" in result.stdout
  assert os.path.exists(tmp_path / "out" / "train.png")
  command[5] = f"--config.dataset.manual_dir={tmp_path / 'nowhere'}"
  result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
  assert result.returncode == 2
  assert result.stderr.count("\n") == 1 and "cifar-10-python.tar.gz" in result.stderr


def test_datasets_config_gives_each_source_its_own_fields():
  module = load_datasets_config()
  for name in ("cifar10", "waterbirds", "celeba", "camelyon17", "colored_mnist"):
    config = module.get_config(name)
    assert config.dataset.name == name
  assert module.get_config("waterbirds").dataset.image_size == 64
