"""A search for the setting in which SITAR removes the colour shortcut on offline Colored MNIST, longer training
(4,000 steps) and a wider encoder (32, 64) than the comparison, in two rounds:

  'latent' (the default): ERM and SITAR variants of beta and the reconstruction weight, at 14x14 and 28x28,
      seeds 0 and 1: does a latent that holds more of the image help?
  'noise': ERM, ERM on data whose training colour is uninformative (the best this backbone and data allow
      without the shortcut), and SITAR with alpha 1-5, at 14x14, seeds 0-3: is the noise strong enough?
  'short': the comparison's slim encoder (16, 32) for 3,000 steps, seeds 0-3: ERM and SITAR (alpha 1 and 2),
      each also on data whose training colour is uninformative: a length the CPU comparison can afford.

    python -m jaxshort.sweep --config configs/sitar/search_cmnist.py:noise --workdir runs/search_noise --all
    # or in parallel, e.g. 4 processes on one GPU (XLA_PYTHON_CLIENT_PREALLOCATE=false):
    python -m jaxshort.sweep --config configs/sitar/search_cmnist.py:noise --workdir runs/search_noise \
        --job-index $i --num-jobs 4
    python -m jaxshort.sweep collect --workdir runs/search_noise

Each sweep job is a `compare` of the round's variants for one seed and one image size, with `selection = 'last'`
so that metrics.jsonl holds the whole trajectory (every split, every `eval_every_steps`): what best-validation
selection would have kept can be read from it. docs/sitar.md reports what this search found.
"""

import ml_collections

from configs.sitar import compare_cmnist


ROUNDS = ("latent", "noise", "short")
ARGUMENTS = ROUNDS  # what get_config takes (file.py:argument)


def get_config(search_round: str = "latent") -> ml_collections.ConfigDict:
  if search_round not in ROUNDS:
    raise ValueError(f"search round must be one of {ROUNDS}, got {search_round!r}")
  config = compare_cmnist.get_config()
  config.model.channels = (32, 64)
  config.num_steps = 4000
  config.eval_every_steps = 200
  config.checkpoint_every_steps = 4000
  config.selection = "last"
  config.compare.paper_column = False
  config.compare.variants = (
      "erm:erm",
      "sitar:sitar",
      "beta=8:sitar:sitar.beta=8.0",
      "w=4:sitar:sitar.reconstruction_weight=4.0",
      "w=16:sitar:sitar.reconstruction_weight=16.0",
      "beta=8,w=4:sitar:sitar.beta=8.0,sitar.reconstruction_weight=4.0",
      "beta=8,w=16:sitar:sitar.beta=8.0,sitar.reconstruction_weight=16.0",
      "beta=8,w=16,alpha=3:sitar:sitar.beta=8.0,sitar.reconstruction_weight=16.0,sitar.alpha=3.0",
  )
  config.sweep = ml_collections.ConfigDict()
  config.sweep.compare = ml_collections.ConfigDict({"seeds": ((0,), (1,))})
  config.sweep.dataset = ml_collections.ConfigDict({"image_size": (14, 28)})
  if search_round == "noise":
    config.compare.variants = (
        "erm:erm",
        "colour uninformative:erm:dataset.train_color_flip=0.5",
        "sitar:sitar",
        "alpha=2:sitar:sitar.alpha=2.0",
        "alpha=3:sitar:sitar.alpha=3.0",
        "alpha=5:sitar:sitar.alpha=5.0",
        "beta=8,alpha=3:sitar:sitar.beta=8.0,sitar.alpha=3.0",
    )
  if search_round == "short":
    config.model.channels = (16, 32)
    config.num_steps = 3000
    config.eval_every_steps = 250
    config.checkpoint_every_steps = 3000
    uninformative = "dataset.train_color_flip=0.5"
    config.compare.variants = (
        "erm:erm",
        f"erm, colour uninformative:erm:{uninformative}",
        "sitar:sitar",
        f"sitar, colour uninformative:sitar:{uninformative}",
        "alpha=2:sitar:sitar.alpha=2.0",
    )
  if search_round in ("noise", "short"):
    config.sweep.compare.seeds = ((0,), (1,), (2,), (3,))
    config.sweep.dataset.image_size = (14,)
  return config
