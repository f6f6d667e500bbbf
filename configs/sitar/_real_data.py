"""Shared settings of the SITAR configs on real 64x64 data (CelebA, Waterbirds, Camelyon17-WILDS).

These name the datasets `celeba`, `waterbirds` and `camelyon17` of jaxshort.data in the paper's regime:
majority-only training and validation (`dataset.regime = 'majority_only'`: only the groups where label and cue
agree), the full test split, every group, for OOD. Each dataset section is that dataset's own default_config(),
so it carries the folder its missing-file message names (`dataset.manual_dir`). They are sized for a GPU: the
paper's 4-conv encoder (32-32-64-128) on 64x64 RGB, batch 128, Adam 1e-3 (the paper gives no optimizer or length).
"""

import ml_collections

from configs.sitar import colored_mnist
from jaxshort import data


def real_data_config(dataset: str, latent_dim: int, alpha: float, beta: float, lambda_cons: float,
                     **dataset_fields) -> ml_collections.ConfigDict:
  """The Colored MNIST config with the paper's (d, alpha, beta, lambda_cons) and a 64x64 dataset."""
  config = colored_mnist.get_config()
  config.dataset = data.declared_fields(ml_collections.ConfigDict({"name": dataset}))
  config.dataset.update({"image_size": 64, "regime": "majority_only", **dataset_fields})
  config.model.latent_dim = latent_dim
  config.model.channels = (32, 32, 64, 128)
  config.sitar.alpha, config.sitar.beta, config.sitar.lambda_cons = alpha, beta, lambda_cons
  config.jtt.first_steps = 2000
  config.num_steps = 20000
  config.eval_every_steps = 1000
  config.checkpoint_every_steps = 1000
  config.num_cpu_devices = 0
  return config
