"""SITAR on Waterbirds (landbirds on land + waterbirds on water in training): (d, alpha, beta, lambda_cons) =
(32, 0.01, 2, 10).

    python launch.py --config configs/sitar/waterbirds.py --workdir runs/sitar_waterbirds

Needs the `waterbirds` dataset of jaxshort.data (the standard tarball in a manual dir). Paper: OOD 57.13 /
worst-group 31.04 (ERM 56.81 / 23.85).
"""

from configs.sitar._real_data import real_data_config


def get_config():
  return real_data_config("waterbirds", 32, 0.01, 2.0, 10.0)
