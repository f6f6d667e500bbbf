"""SITAR on CelebA, target Blond_Hair, shortcut Male: the paper's (d, alpha, beta, lambda_cons) = (10, 0.1, 2, 10).

    python launch.py --config configs/sitar/celeba_blond.py --workdir runs/sitar_celeba_blond

Needs the `celeba` dataset of jaxshort.data (manual download). Paper: OOD 81.13 / worst-group 58.88 (ERM
64.20 / 27.51). Training keeps not-blond males and blond females; the test is the full test split.
"""

from configs.sitar._real_data import real_data_config


def get_config():
  return real_data_config("celeba", 10, 0.1, 2.0, 10.0, task="blond_male")
