"""Methods x seeds on offline Colored MNIST -> table.md / table.json / table.png (mean +- std over 3 seeds).

    python launch.py --config configs/sitar/compare_cmnist.py --workdir runs/compare_cmnist

All methods share the backbone (conv encoder -> mu -> MLP classifier), the data, the optimizer and the loop;
GroupDRO and DFR use group labels and are marked so. 10 min 48 s on a 2-core CPU shared with other jobs;
the table it wrote is in docs/sitar.md.
"""

import ml_collections

from configs.sitar import colored_mnist

METHODS = ("erm", "jtt", "lff", "chroma_vae", "sitar", "group_dro", "dfr")


def get_config() -> ml_collections.ConfigDict:
  config = colored_mnist.get_config()
  config.experiment = "compare"
  config.compare = ml_collections.ConfigDict()
  config.compare.seeds = (0, 1, 2)
  config.compare.variants = tuple(f"{m}:{m}" for m in METHODS)  # 'name:method[:field=value,...]'
  config.compare.paper_column = True  # the paper's Colored MNIST ID / OOD numbers beside ours
  return config
