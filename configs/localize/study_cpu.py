"""The localization study at CPU scale: four architecture families (and the MLP and small CNN) x two cue kinds x
two seeds on the offline digits, each with its noise floor and a replicate pair, the freeze-each interventions on
seed 0, and a pre-trained start and a weaker skew for two families.

    python -m jaxshort.sweep --config configs/localize/study_cpu.py --workdir runs/loc-study --all
    python -m jaxshort.localization.study --workdir runs/loc-study        # findings.md, findings.json, figures

The sweep's cases (`sweep.cases`, one job each) are named <family>_<cue>[_<variant>]_seed<k>. Every job is a
localize run of configs/localize/mnist_patch_cnn.py's settings (a branch point after 100 clean steps, batch 64)
with 400 steps per run and one replicate pair, with its family's model and optimizer:

  vgg_bn     VGG with batch norm, 4 stages of 1 conv (16-32-64-128) + a 128-wide head; SGD with momentum
  resnet     ResNet with the CIFAR stem (3x3/1 conv, no max-pool), 4 stages of 1 basic block (16-32-64-128); SGD
  deit       DeiT without the distillation token (it needs a teacher): 4x4 patches, width 64, 4 layers of 2 heads
             grouped as 4 blocks; AdamW
  convnext   ConvNeXt, 4 stages of 1 block (16-32-64-128); AdamW
  small_cnn, mlp   the two CPU models of configs/localize/ (Adam)

Image sizes: the 14-pixel digits on a 1-pixel black border (16x16) for VGG (4 halvings) and DeiT (4x4 patches),
and for ResNet and the small CNN so their data match; the 28-pixel digits on a 2-pixel border (32x32) for ConvNeXt,
which downsamples 32x. The patch cue covers the same fraction of the image at both sizes (3 and 6 pixels). SGD for
the batch-norm CNNs and AdamW for the transformer and ConvNeXt follow configs/localize/gpu_scale.py.

Beyond the 4 x 2 x 2 grid: '_pretrained' starts the pair after 1,000 clean steps instead of 100 (a stand-in for the
paper's fine-tuning from ImageNet weights: the start has already learnt the digits, not a different task), and
'_rho80' trains the skewed model with the cue on 80% rather than 95% of the images (a weaker skew); both for the
ResNet and ConvNeXt with the patch cue, seed 0.

Measured: the whole sweep took 50 min 20 s on the 2-core development CPU, jax 0.10.2 (the 28 runs' own times sum to
49.7 min; docs/localization.md has the findings). Per run: 30-90 s without interventions, 1-5 min with them
(ConvNeXt at 32x32 the longest).
"""

import ml_collections

from configs.localize import mnist_patch_cnn

SEEDS = (0, 1)
CUES = ("patch", "tint")
INTERVENTION_SEEDS = (0,)  # the freeze-each interventions run on these seeds only


def sgd(learning_rate: float = 0.05) -> dict:
  return {"name": "sgd", "learning_rate": learning_rate, "momentum": 0.9, "schedule": "warmup_cosine",
          "warmup_steps": 60, "weight_decay": 5e-4, "grad_clip_norm": 0.0}


def adamw(learning_rate: float = 1e-3) -> dict:
  return {"name": "adamw", "learning_rate": learning_rate, "schedule": "warmup_cosine", "warmup_steps": 60,
          "weight_decay": 0.05, "grad_clip_norm": 1.0}


# family -> (image size, model section, optimizer fields)
FAMILIES = {
    "vgg_bn": (16, {"name": "vgg11_bn", "depths": (1, 1, 1, 1), "widths": (16, 32, 64, 128), "hidden": 128,
                    "pool_size": 1, "dropout": 0.0}, sgd()),
    "resnet": (16, {"name": "resnet18", "stage_sizes": (1, 1, 1, 1), "widths": (16, 32, 64, 128),
                    "stem": "cifar"}, sgd()),
    "deit": (16, {"name": "deit_ti", "embed_dim": 64, "depth": 4, "num_heads": 2, "patch_size": 4,
                  "distilled": False, "num_stages": 4, "drop_path": 0.0}, adamw()),
    "convnext": (32, {"name": "convnext_atto", "depths": (1, 1, 1, 1), "dims": (16, 32, 64, 128),
                      "drop_path": 0.0}, adamw()),
    "small_cnn": (16, {"name": "small_cnn", "widths": (16, 32, 64)}, {"name": "adam", "learning_rate": 3e-3}),
    "mlp": (16, {"name": "mlp", "widths": (256, 128)}, {"name": "adam", "learning_rate": 1e-3}),
}
# variant -> (families, cue, seeds, fields)
VARIANTS = {
    "pretrained": (("resnet", "convnext"), "patch", (0,), {"localize": {"branch_steps": 1000}}),
    "rho80": (("resnet", "convnext"), "patch", (0,), {"dataset": {"rho": 0.8}}),
}


def case(family: str, cue: str, seed: int, extra: dict | None = None) -> dict:
  """The fields one job sets: its family's model, optimizer and image size, the cue, the seed, interventions."""
  image_size, model, optimizer = FAMILIES[family]
  fields = {"seed": seed, "model": model, "optimizer": optimizer,
            "dataset": {"image_size": image_size, "cue_kind": cue, "cue_size": 3 * image_size // 16},
            "localize": {"interventions": ("freeze_each",) if seed in INTERVENTION_SEEDS else ()}}
  for section, values in (extra or {}).items():
    fields[section] = {**fields.get(section, {}), **values}
  return fields


def cases() -> tuple[tuple[str, dict], ...]:
  """(case name, fields) of the whole study, in run order: the four families' grid first, then the MLP and the
  small CNN, then the variants."""
  out = [(f"{family}_{cue}_seed{seed}", case(family, cue, seed))
         for family in FAMILIES for cue in CUES for seed in SEEDS]
  for variant, (families, cue, seeds, extra) in VARIANTS.items():
    out += [(f"{family}_{cue}_{variant}_seed{seed}", case(family, cue, seed, extra))
            for family in families for seed in seeds]
  return tuple(out)


def get_config() -> ml_collections.ConfigDict:
  config = mnist_patch_cnn.get_config()
  config.optimizer.warmup_steps = 0
  config.optimizer.weight_decay = 0.0
  config.optimizer.momentum = 0.9
  config.optimizer.grad_clip_norm = 0.0
  config.num_steps = 400                # per run: clean, skewed, noise floor, replicate pair, each intervention
  config.eval_every_steps = 400
  config.checkpoint_every_steps = 400
  config.localize.replicates = 1        # one replicate pair: the per-block spread E and C must stand above
  config.sweep = ml_collections.ConfigDict()
  config.sweep.cases = cases()
  return config
