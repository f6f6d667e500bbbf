"""Localization of a patch shortcut in an MLP, offline on CPU: the mnist_patch_cnn setup with a 3-block MLP
(layer1, layer2, head) instead of the small CNN.

    python launch.py --config configs/localize/mnist_patch_mlp.py --workdir runs/loc-mlp

Measured: 87 s in all on the 2-core CPU this project is developed on, shared with other jobs.
Found there: clean model 92.7% on T_conflict, skewed model 39.9%; E sums to 0.589 (0.473 in layer1), C to 0.041.
"""

import ml_collections

from configs.localize import mnist_patch_cnn


def get_config() -> ml_collections.ConfigDict:
  config = mnist_patch_cnn.get_config()
  config.model = ml_collections.ConfigDict()
  config.model.name = "mlp"
  config.model.widths = (256, 128)    # blocks layer1, layer2, head
  config.optimizer.learning_rate = 1e-3
  return config
