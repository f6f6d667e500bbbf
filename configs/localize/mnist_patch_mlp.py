"""Localization of a patch shortcut in an MLP, offline on CPU: the mnist_patch_cnn setup with a 3-block MLP
(layer1, layer2, head) instead of the small CNN.

    python launch.py --config configs/localize/mnist_patch_mlp.py --workdir runs/loc-mlp

RUN_TIME_NOTE
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
