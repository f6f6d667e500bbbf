"""Localization at the paper's scale, for a GPU/TPU: one file, the dataset and model chosen by its argument.

    python launch.py --config configs/localize/gpu_scale.py:cifar10,resnet18 --workdir runs/loc-c10-r18
    python launch.py --config configs/localize/gpu_scale.py:waterbirds,convnext_t --workdir runs/loc-wb-cnx

datasets: cifar10 (synthetic class-coded patch, strength rho), waterbirds (background), celeba (Blond_Hair vs
Male); models: resnet18, vgg16_bn, deit_s, convnext_t. Not run yet: these datasets and models come from other
parts of jaxshort, and each dataset must provide the roles clean_train, skewed_train, clean_test, aligned_test and
conflict_test (the experiment names what is missing otherwise; see docs/localization.md). Expected run time is
not measured.
"""

import ml_collections

from configs.localize import mnist_patch_cnn

DATASETS = ("cifar10", "waterbirds", "celeba")
MODELS = ("resnet18", "vgg16_bn", "deit_s", "convnext_t")


def get_config(arg: str = "cifar10,resnet18") -> ml_collections.ConfigDict:
  dataset, model = arg.split(",")
  if dataset not in DATASETS or model not in MODELS:
    raise ValueError(f"argument must be <dataset>,<model> with dataset in {DATASETS} and model in {MODELS}")
  config = mnist_patch_cnn.get_config()
  config.dataset = ml_collections.ConfigDict({"name": dataset, "data_dir": ""})
  if dataset == "cifar10":
    config.dataset.rho = 0.95
    config.dataset.cue_kind = "patch"
    config.dataset.cue_size = 4
    config.dataset.cue_position = "top_left"
  else:
    config.dataset.majority_fraction = 0.95   # group skew of the skewed training subset; the clean one is balanced
  config.model = ml_collections.ConfigDict({"name": model})
  config.optimizer.name = "sgd"
  config.optimizer.learning_rate = 0.05
  config.optimizer.schedule = "warmup_cosine"
  config.optimizer.warmup_steps = 500
  config.optimizer.weight_decay = 5e-4
  config.batch_size = 128
  config.num_steps = 20_000
  config.eval_every_steps = 2_000
  config.checkpoint_every_steps = 2_000
  config.localize.branch_steps = 1_000
  config.localize.interventions = ("freeze_each", "freeze_prefixes", "freeze_suffixes", "lr_each=0.1")
  config.num_cpu_devices = 0
  config.distributed = "auto"       # multi-process start: 'auto' (when the environment names several), 'on', 'off'
  return config
