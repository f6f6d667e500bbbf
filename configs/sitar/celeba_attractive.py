"""SITAR on CelebA, target Attractive, shortcut Smiling: (d, alpha, beta, lambda_cons) = (10, 0.1, 2, 10).

    python launch.py --config configs/sitar/celeba_attractive.py --workdir runs/sitar_celeba_attractive

Needs the `celeba` dataset of jaxshort.data (manual download). Paper: OOD 63.62 / worst-group 60.95 (ERM
54.42 / 15.29).
"""

from configs.sitar._real_data import real_data_config


def get_config():
  return real_data_config("celeba", 10, 0.1, 2.0, 10.0, task="attractive_smiling")
