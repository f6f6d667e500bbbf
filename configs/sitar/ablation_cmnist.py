"""SITAR ablations on offline Colored MNIST (beta, alpha, lambda_cons, isotropic noise v = 1) -> table.md.

    python launch.py --config configs/sitar/ablation_cmnist.py --workdir runs/ablation_cmnist

The `compare` experiment with SITAR variants instead of methods; same data, backbone and length as
compare_cmnist.py. The paper reports: beta < 1 falls back to ERM; isotropic noise stays near ERM;
lambda_cons = 0 stays near ERM; beta >= 1 with lambda_cons >= 1 approaches the oracle (75%).
"""

import ml_collections

from configs.sitar import compare_cmnist


def get_config() -> ml_collections.ConfigDict:
  config = compare_cmnist.get_config()
  config.compare.seeds = (0, 1, 2)
  config.compare.variants = (
      "sitar:sitar",
      "beta=0.5:sitar:sitar.beta=0.5",
      "beta=8:sitar:sitar.beta=8.0",
      "alpha=2:sitar:sitar.alpha=2.0",
      "alpha=5:sitar:sitar.alpha=5.0",
      "lambda_cons=0:sitar:sitar.lambda_cons=0.0",
      "isotropic v=1:sitar:sitar.isotropic=True",
      "penalty_exact:sitar:sitar.method='penalty_exact'",
  )
  config.compare.paper_column = False
  return config
