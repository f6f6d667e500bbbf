"""SITAR on Camelyon17-WILDS (training hospitals vs held-out hospitals, accuracy only): (d, alpha, beta,
lambda_cons) = (10, 0.1, 2, 50).

    python launch.py --config configs/sitar/camelyon17.py --workdir runs/sitar_camelyon17

Needs the `camelyon17` dataset of jaxshort.data (the WILDS files in a manual dir). Paper: ID 95.41 / OOD 83.26
(ERM 95.59 / 81.63).
"""

from configs.sitar._real_data import real_data_config


def get_config():
  return real_data_config("camelyon17", 10, 0.1, 2.0, 50.0)
