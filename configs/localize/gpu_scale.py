"""Localization at the paper's scale, for a GPU/TPU: one file, the dataset and model chosen by its argument.

    python launch.py --config configs/localize/gpu_scale.py:cifar10,resnet18 --workdir runs/loc-c10-r18 \
        --config.dataset.manual_dir=~/data/cifar10
    python launch.py --config configs/localize/gpu_scale.py:waterbirds,convnext_t --workdir runs/loc-wb-cnx \
        --config.dataset.manual_dir=~/data/waterbirds
    python launch.py --config configs/localize/gpu_scale.py:celeba,deit_s,res=128 --workdir runs/loc-ca-deit

Argument: <dataset>,<model>[,res=<pixels>]. datasets: cifar10 (synthetic class-coded 4x4 patch on 95% of the
skewed training images; 32x32), waterbirds (background; natural pair, 224x224), celeba (Blond_Hair, cue Male;
natural pair, 224x224); models: resnet18, vgg16_bn, deit_s, convnext_t, their settings fitted to the resolution
(`model_settings`). The dataset field is the base dataset's own default_config() (files: docs/datasets.md) plus
`pair`, which makes build_dataset return its localization view (jaxshort/data/localization_view.py). Fine-tuning:
--config.model.pretrained=<torchvision/timm weights file> (docs/models.md).

Targets a GPU/TPU; its run time has not been measured on a GPU here. Only tiny versions of it have run (CPU, in
tests/test_localization_scale.py). Waterbirds' natural pair is small (224 examples: its smallest training group,
waterbirds on land, holds 56), so its runs are short; CelebA's is about 5,500, CIFAR-10's 45,000.
"""

import ml_collections

from configs.localize import mnist_patch_cnn
from jaxshort.data import celeba, cifar10, waterbirds

DATASETS = ("cifar10", "waterbirds", "celeba")
MODELS = ("resnet18", "vgg16_bn", "deit_s", "convnext_t")
ARGUMENTS = tuple(f"{d},{m}" for d in DATASETS for m in MODELS)  # what get_config takes, and with ',res=N':
EXAMPLE_ARGUMENTS = ("celeba,deit_s,res=128", "waterbirds,resnet18,res=64", "cifar10,convnext_t,res=64")
# Per dataset: native resolution, batch size, steps per run, clean steps to the branch point.
SCHEDULES = {"cifar10": (32, 128, 20_000, 1_000), "waterbirds": (224, 32, 3_000, 300),
             "celeba": (224, 128, 5_000, 500)}


def parse_argument(arg: str) -> tuple[str, str, int]:
  """'<dataset>,<model>[,res=N]' -> (dataset, model, resolution; 0 for the dataset's own)."""
  parts = arg.split(",")
  options = dict(p.split("=", 1) for p in parts[2:] if "=" in p)
  if len(parts) < 2 or parts[0] not in DATASETS or parts[1] not in MODELS or set(options) - {"res"} \
      or len(options) != len(parts) - 2:
    raise ValueError(f"argument must be <dataset>,<model>[,res=N] with dataset in {DATASETS} and model in "
                     f"{MODELS}, got {arg!r}")
  return parts[0], parts[1], int(options.get("res", 0))


def dataset_config(dataset: str, resolution: int) -> ml_collections.ConfigDict:
  """The base dataset's default_config() with images at `resolution` and the localization pair settings."""
  source = {"cifar10": cifar10, "waterbirds": waterbirds, "celeba": celeba}[dataset]
  config = source.default_config()
  config.image_size = 0 if dataset == "cifar10" and resolution == 32 else resolution  # resized once at load time
  if dataset == "cifar10":
    config.pair = "synthetic"          # class-coded cue stamped on the skewed copy (jaxshort/data/skews.py)
    config.rho = 0.95                  # fraction of skewed training images that carry their label's cue
    config.cue_kind = "patch"          # 'patch' or 'tint'
    config.cue_size = 4
    config.cue_position = "top_left"
    config.tint_strength = 0.5         # only for cue_kind 'tint'
  else:
    config.pair = "natural"            # group-balanced D_c and skewed D_s of one size (jaxshort/data/regimes.py)
    config.majority_fraction = 0.95    # share of each class in D_s that carries its majority cue
    config.pair_size = 0               # 0: the largest pair the training groups allow
  return config


def model_settings(model: str, resolution: int) -> dict:
  """Constructor settings of `model` for square images of `resolution` pixels (docs/models.md). The size
  settings are spelled out (at the registry's values) so that --config.model.<field> can change them."""
  small = resolution <= 64
  if model == "resnet18":
    return {"stage_sizes": (2, 2, 2, 2), "widths": (64, 128, 256, 512),
            "stem": "cifar" if small else "imagenet"}      # 3x3/1 stem, no max-pool, for CIFAR-size images
  if model == "vgg16_bn":
    if resolution % 32:
      raise ValueError(f"vgg16_bn halves the image 5 times: res must be a multiple of 32, got {resolution}")
    return {"depths": (2, 2, 3, 3, 3), "widths": (64, 128, 256, 512, 512), "hidden": 512 if small else 4096,
            "pool_size": resolution // 32, "dropout": 0.5}  # the classifier sees pool_size^2 cells
  if model == "deit_s":
    patch = 4 if small else 16                              # 32x32 -> 8x8 tokens; 224x224 -> 14x14
    if resolution % patch:
      raise ValueError(f"deit_s with {patch}x{patch} patches needs res a multiple of {patch}, got {resolution}")
    return {"embed_dim": 384, "depth": 12, "num_heads": 6, "patch_size": patch, "drop_path": 0.1}
  if resolution % 32:
    raise ValueError(f"convnext_t downsamples by 32: res must be a multiple of 32, got {resolution}")
  return {"depths": (3, 3, 9, 3), "dims": (96, 192, 384, 768), "drop_path": 0.1}


def optimizer_settings(model: str) -> dict:
  """SGD with momentum for the CNNs with batch norm; AdamW for the transformer and ConvNeXt (layer norm)."""
  if model in ("resnet18", "vgg16_bn"):
    return {"name": "sgd", "learning_rate": 0.05, "momentum": 0.9, "schedule": "warmup_cosine",
            "warmup_steps": 500, "weight_decay": 5e-4, "grad_clip_norm": 0.0}
  return {"name": "adamw", "learning_rate": 1e-3, "schedule": "warmup_cosine", "warmup_steps": 500,
          "weight_decay": 0.05, "grad_clip_norm": 1.0}


def get_config(arg: str = "cifar10,resnet18") -> ml_collections.ConfigDict:
  dataset, model, resolution = parse_argument(arg)
  native, batch_size, num_steps, branch_steps = SCHEDULES[dataset]
  resolution = resolution or native
  config = mnist_patch_cnn.get_config()
  config.dataset = dataset_config(dataset, resolution)
  config.model = ml_collections.ConfigDict({"name": model, **model_settings(model, resolution)})
  config.model.pretrained = ""         # torchvision/timm weights file for a fine-tuning start; '' trains from scratch
  config.optimizer.update(optimizer_settings(model))
  # the branch run (branch_steps long) warms up with the same optimizer: at most half of it
  config.optimizer.warmup_steps = min(config.optimizer.warmup_steps, num_steps // 10, branch_steps // 2)
  config.batch_size = batch_size
  config.augment = "crop_flip"         # random padded crop + flip, keyed by (seed, step): the same for both runs
  config.eval_batch_size = 500
  config.num_steps = num_steps         # per run: clean, skewed, noise floor, each intervention
  config.eval_every_steps = num_steps // 10
  config.checkpoint_every_steps = num_steps // 10
  config.log_every_steps = 100
  config.localize.branch_steps = branch_steps
  config.localize.chunk_size = 500     # test examples per forward pass inside the hybrid program
  config.localize.replicates = 2       # 3 (clean, skewed) pairs in all: the per-block spread is a std
  config.localize.interventions = ("freeze_each", "freeze_prefixes", "freeze_suffixes", "lr_each=0.1")
  config.num_cpu_devices = 0
  config.distributed = "auto"       # multi-process start: 'auto' (when the environment names several), 'on', 'off'
  return config
