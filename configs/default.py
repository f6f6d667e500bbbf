"""The default run: what jaxshort does, offline, in a few minutes on a laptop CPU.

    python launch.py                      # this config, into runs/default-<time>/

Parts, each in its own sub-folder of the workdir (see jaxshort/experiments/suite.py):
  erm       ERM on Colored MNIST (configs/erm_cmnist.py): in-distribution ~90%, out-of-distribution far below
            the 75% oracle: the colour shortcut.
  localize  a small localization profile (configs/localize/mnist_patch_mlp.py, shortened): where in an MLP a
            class-coloured patch shortcut lives, block by block (spurious encoding E_b, core forgetting C_b).
  sitar     SITAR against ERM on Colored MNIST, one seed, on the VAE backbone (configs/sitar/compare_cmnist.py):
            ERM, SITAR with the paper's settings and SITAR with twice its noise (alpha = 2); in- and
            out-of-distribution accuracy and worst-group accuracy of each, at the final state and at the
            best-validation evaluation.
Any part's fields can be overridden, e.g. --config.erm.num_steps=500 --config.localize.model.widths='(64,32)'.
"""

import ml_collections

from configs import erm_cmnist
from configs.localize import mnist_patch_mlp
from configs.sitar import compare_cmnist


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.experiment = "suite"
  config.seed = 0                     # given to every part
  config.num_cpu_devices = 0          # JAX devices the host CPU is split into; 0: by the models (sharding.py)
  config.distributed = "auto"       # multi-process start: 'auto' (when the environment names several), 'on', 'off'
  config.parts = ("erm", "localize", "sitar")  # run in this order

  config.erm = erm_cmnist.get_config()

  config.localize = mnist_patch_mlp.get_config()
  config.localize.num_steps = 300
  config.localize.eval_every_steps = 300
  config.localize.checkpoint_every_steps = 300
  config.localize.localize.branch_steps = 50
  config.localize.localize.interventions = ()

  config.sitar = compare_cmnist.get_config()
  config.sitar.compare.seeds = (0,)
  config.sitar.compare.variants = ("erm:erm", "sitar:sitar", compare_cmnist.EXTRA_VARIANTS[0])
  return config
