"""Localization of a patch shortcut in an MLP, offline on CPU: the mnist_patch_cnn setup with a 3-block MLP
(layer1, layer2, head) instead of the small CNN.

    python launch.py --config configs/localize/mnist_patch_mlp.py --workdir runs/loc-mlp

Measured: 24 s in all on the 2-core development CPU (quiet), with one replicate pair. Found there: clean model
93.0% on T_conflict, skewed model 41.7%; E sums to 0.581 (0.458 in layer1, replicate spread 0.001), C to 0.055.
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
