"""The one config path (jaxshort/config.py): declared fields only, overrides by type, the dataset's own fields
merged once, and the real-data SITAR configs as the paper states them."""

import os
import subprocess
import sys

import pytest

from jaxshort import config as config_lib
from jaxshort import data
from jaxshort.errors import UserError
from tests import fake_data
from tests.conftest import REPO

WATERBIRDS = os.path.join(REPO, "configs", "sitar", "waterbirds.py")


def write_config(tmp_path, body: str) -> str:
  path = tmp_path / "custom.py"
  path.write_text("from configs import erm_cmnist\n\ndef get_config():\n  config = erm_cmnist.get_config()\n"
                  + "".join(f"  {line}\n" for line in body.splitlines()) + "  return config\n")
  return str(path)


@pytest.mark.parametrize("line, field", [
    ("config.num_step = 5", "num_step"),                         # top level
    ("config.optimizer.learnig_rate = 0.1", "optimizer.learnig_rate"),
    ("config.dataset.regime2 = 'majority_only'", "dataset.regime2"),
    ("config.model.depth = 3", "model.depth"),                     # the MLP takes no depth
    ("config.sitar = dict(alpha=1.0, alpah=2.0)", "sitar.alpah"),
])
def test_a_field_set_in_a_file_that_nothing_declares_is_refused(tmp_path, line, field):
  with pytest.raises(UserError, match=f"unknown config field {field}"):
    config_lib.load(write_config(tmp_path, line))


@pytest.mark.slow
def test_a_file_setting_an_unknown_field_is_one_line_from_launch(tmp_path):
  path = write_config(tmp_path, "config.dataset.colour_flip = 0.2")
  result = subprocess.run([sys.executable, "launch.py", f"--config={path}", f"--workdir={tmp_path / 'work'}"],
                          cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
  assert result.returncode == 2 and "Traceback" not in result.stderr
  assert result.stderr.strip().splitlines() == [line for line in result.stderr.strip().splitlines()
                                                if line.startswith("error:")]
  assert "dataset.colour_flip" in result.stderr and "did you mean" in result.stderr
  assert not os.path.exists(tmp_path / "work")


def test_overrides_are_parsed_by_the_field_type_and_typos_refused():
  config = config_lib.load(os.path.join(REPO, "configs", "erm_cmnist.py"),
                           ["num_steps=7", "model.widths=(4, 2)", "optimizer.nesterov=true", "dataset.label_flip=0.1"])
  assert (config.num_steps, config.model.widths, config.optimizer.nesterov) == (7, (4, 2), True)
  assert config.dataset.label_flip == 0.1 and config.dataset.source == "auto"  # declared default kept
  with pytest.raises(UserError, match="invalid literal for int"):
    config_lib.load(os.path.join(REPO, "configs", "erm_cmnist.py"), ["num_steps=ten"])
  with pytest.raises(UserError, match="did you mean 'learning_rate'"):
    config_lib.load(os.path.join(REPO, "configs", "erm_cmnist.py"), ["optimizer.learnig_rate=0.1"])


def test_a_new_dataset_name_brings_its_own_declared_fields():
  config = config_lib.load(os.path.join(REPO, "configs", "erm_cmnist.py"),
                           ["dataset.name=waterbirds", "dataset.manual_dir=/data/wb"])
  assert config.dataset.manual_dir == "/data/wb"
  assert config.dataset.image_size == 64  # waterbirds' own default: 28 was only colored_mnist's default
  assert "label_flip" not in config.dataset  # colored_mnist's own field is gone


def test_sitar_waterbirds_accepts_manual_dir_and_trains_on_the_majority_groups(tmp_path):
  folder = fake_data.waterbirds_folder(str(tmp_path / "files"))
  config = config_lib.load(WATERBIRDS, [f"dataset.manual_dir={folder}", "dataset.image_size=8"])
  assert config.dataset.regime == "majority_only"
  dataset = data.build_dataset(config.dataset, seed=0)
  train_groups = {g for g, n in dataset.group_counts("train").items() if n}
  assert train_groups == {"landbird|land", "waterbird|water"}
  assert {g for g, n in dataset.group_counts("val").items() if n} == {"landbird|land", "waterbird|water"}
  assert all(n > 0 for n in dataset.group_counts("test").values())  # the OOD split keeps every group
  plain = data.build_dataset(config_lib.with_overrides(config, {"dataset.regime": ""}).dataset, seed=0)
  assert all(n > 0 for n in plain.group_counts("train").values())


@pytest.mark.slow
def test_inspect_shows_the_majority_only_training_split(tmp_path):
  folder = fake_data.waterbirds_folder(str(tmp_path / "files"))
  command = [sys.executable, "-m", "jaxshort.data.inspect", f"--config={WATERBIRDS}",
             f"--config.dataset.manual_dir={folder}", "--config.dataset.image_size=8", f"--out={tmp_path / 'out'}"]
  result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
  assert result.returncode == 0, result.stderr
  train = next(line for line in result.stdout.splitlines() if line.split()[:1] == ["train"])
  assert "landbird|land 12" in train and "waterbird|water 5" in train
  assert "landbird|water 0" in train and "waterbird|land 0" in train


def test_celeba_attractive_config_trains_that_task():
  config = config_lib.load(os.path.join(REPO, "configs", "sitar", "celeba_attractive.py"))
  cfg = config.dataset
  assert (cfg.task, data.celeba.task_attributes(cfg)) == ("attractive_smiling", ("Attractive", "Smiling"))


def test_every_config_file_loads_with_its_arguments():
  for name in ("default", "erm_cmnist", "arrays", "localize/mnist_patch_cnn", "localize/mnist_patch_mlp",
               "sitar/colored_mnist", "sitar/compare_cmnist", "sitar/ablation_cmnist", "sitar/waterbirds",
               "sitar/celeba_blond", "sitar/celeba_attractive", "sitar/camelyon17"):
    config_lib.load(os.path.join(REPO, "configs", f"{name}.py"))
  for arg in ("cifar10", "waterbirds", "celeba", "camelyon17", "colored_mnist"):
    assert config_lib.load(os.path.join(REPO, "configs", f"datasets.py:{arg}")).dataset.name == arg
  for arg in ("cifar10,resnet18", "waterbirds,convnext_t", "celeba,deit_s,res=128", "cifar10,vgg16_bn"):
    config_lib.load(os.path.join(REPO, "configs", "localize", f"gpu_scale.py:{arg}"))
  for arg in ("latent", "noise", "short"):
    config_lib.load(os.path.join(REPO, "configs", "sitar", f"search_cmnist.py:{arg}"))


def test_a_config_argument_error_keeps_its_reason():
  with pytest.raises(UserError, match="model in .*resnet18"):
    config_lib.load(os.path.join(REPO, "configs", "localize", "gpu_scale.py:cifar11,resnet18"))


def test_a_field_a_run_reads_but_the_file_lacks_is_refused_by_name(tmp_path):
  with pytest.raises(UserError, match="lacks the field num_cpu_devices"):
    config_lib.load(write_config(tmp_path, "del config.num_cpu_devices"))
  with pytest.raises(UserError, match="lacks the field optimizer.warmup_steps"):
    config_lib.load(write_config(tmp_path, "del config.optimizer.warmup_steps"))
  with pytest.raises(UserError, match="lacks the field localize"):  # an override naming another experiment
    config_lib.load(os.path.join(REPO, "configs", "erm_cmnist.py"), ["experiment=localize"])


def test_renaming_a_dataset_or_model_keeps_the_pair_and_the_files_choices():
  gpu_scale = os.path.join(REPO, "configs", "localize", "gpu_scale.py:waterbirds,resnet18")
  config = config_lib.load(gpu_scale, ["dataset.name=celeba", "dataset.majority_fraction=0.9"])
  assert (config.dataset.pair, config.dataset.majority_fraction) == ("natural", 0.9)
  assert config.dataset.manual_dir == data.celeba.default_config().manual_dir  # a default is not carried over
  assert config.dataset.image_size == 224  # the file's own choice is
  cnn = config_lib.load(os.path.join(REPO, "configs", "localize", "mnist_patch_cnn.py"), ["model.batch_norm=false"])
  assert cnn.model.batch_norm is False and cnn.model.pretrained == ""  # every setting the model declares
  resnet = config_lib.load(os.path.join(REPO, "configs", "erm_cmnist.py"), ["model.name=resnet18"])
  assert resnet.model.widths == (64, 128, 256, 512) and resnet.model.stem == "imagenet"


def test_a_suite_part_cannot_set_what_the_suite_gives_it():
  default = os.path.join(REPO, "configs", "default.py")
  with pytest.raises(UserError, match="set --config.seed instead"):
    config_lib.load(default, ["erm.seed=5"])
  assert config_lib.load(default, ["localize.localize.branch_steps=3"]).localize.localize.branch_steps == 3


def test_celeba_refuses_a_target_its_task_would_ignore():
  config = data.celeba.default_config()
  config.target = "Eyeglasses"
  with pytest.raises(UserError, match="task='custom'"):
    data.celeba.task_attributes(config)


def test_an_override_reaches_the_fields_that_refer_to_it(tmp_path):
  path = write_config(tmp_path, "config.eval_every_steps = config.get_ref('num_steps')")
  assert config_lib.load(path, ["num_steps=7"]).eval_every_steps == 7
