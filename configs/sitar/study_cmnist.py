"""The study of what the SITAR paper leaves open, on offline Colored MNIST -> table.md / table.json / table.png.

    python launch.py --config configs/sitar/study_cmnist.py --workdir runs/sitar_study

Each variant is SITAR with the paper's (d, alpha, beta, lambda_cons) = (10, 1, 2, 10) and one switch of
sitar/loss.py (or two), 3 seeds, the final state, on the settings of configs/sitar/colored_mnist.py; every run
writes its latent diagnostics (results.json `latent`, diagnostics.png). docs/sitar.md has the table, the
diagnostics beside the accuracies, and what they show. 24 of the first 36 runs (seeds 1 and 2) took 22 min 46 s on a
2-core CPU; the last three variants' 9 runs 11 min 15 s.
"""

import ml_collections

from configs.sitar import compare_cmnist

VARIANTS = (
    "paper:sitar",
    "stop-gradient:sitar:sitar.stop_gradient=True",
    "spread:sitar:sitar.noise_scale=spread",
    "spread + stop-gradient:sitar:sitar.noise_scale=spread,sitar.stop_gradient=True",
    "warm-up 1000:sitar:sitar.warmup_steps=1000",
    "noise on mu:sitar:sitar.noise_on=mu",
    "probabilities:sitar:sitar.consistency=probabilities",
    "decoder:sitar:sitar.noise_path=decoder",
    "decoder, alpha=2:sitar:sitar.noise_path=decoder,sitar.alpha=2.0",
    "decoder + stop-gradient:sitar:sitar.noise_path=decoder,sitar.stop_gradient=True",
    "batch:sitar:sitar.noise=batch",
    "batch + decoder:sitar:sitar.noise=batch,sitar.noise_path=decoder",
    "batch + decoder, alpha=2:sitar:sitar.noise=batch,sitar.noise_path=decoder,sitar.alpha=2.0",
    "batch + decoder, warm-up 1000:sitar:sitar.noise=batch,sitar.noise_path=decoder,sitar.warmup_steps=1000",
    "batch, alpha=2:sitar:sitar.noise=batch,sitar.alpha=2.0",
)


def get_config() -> ml_collections.ConfigDict:
  config = compare_cmnist.get_config()
  config.compare.variants = VARIANTS
  config.compare.paper_column = False
  return config
