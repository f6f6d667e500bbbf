"""Methods that train the backbone as a plain classifier on the mean code mu (no VAE loss): ERM, JTT, GroupDRO,
and DFR on top of ERM. GroupDRO and DFR use group labels (GroupDRO in training, DFR on the validation split);
they are reported as such.
"""

import dataclasses
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from jaxshort.data import Dataset
from jaxshort.errors import UserError
from jaxshort.methods.common import build_backbone, fit, predict
from jaxshort.training.steps import apply_model, batch_accuracy, cross_entropy_objective


def erm(config: ml_collections.ConfigDict, dataset: Dataset, run_dir: str, erm_dir: str):
  """Empirical risk minimization. Trains into `erm_dir` so that DFR (and a second call) reuse the run."""
  del run_dir
  return fit(config, dataset, build_backbone(config, dataset), erm_dir, cross_entropy_objective, name="erm")


def early_stopping(enabled: bool) -> dict:
  """`fit`'s selection arguments for a method's own early stopping on worst-group validation accuracy, or {}
  (the config's `selection` rule) when not `enabled`."""
  return {"select": True, "select_metric": "worst_group_accuracy"} if enabled else {}


def error_set(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
  """JTT's error set, bool [N]: the training examples the identification model gets wrong."""
  return np.asarray(logits).argmax(-1) != labels


def best_upweight(scores: dict[float, float]) -> float:
  """The lambda_up with the highest worst-group validation accuracy (the first of equal ones)."""
  return max(scores, key=scores.get)


def jtt_weights(wrong: np.ndarray, upweight: float) -> np.ndarray:
  """JTT's per-example weights float32 [N]: lambda_up for the error set, 1 elsewhere (Liu et al., 2021, eq. 2)."""
  return np.where(wrong, upweight, 1.0).astype(np.float32)


def jtt(config: ml_collections.ConfigDict, dataset: Dataset, run_dir: str, erm_dir: str):
  """Just Train Twice (Liu et al., 2021): a short ERM run (`jtt.first_steps`, last state) finds the error set;
  then, for each lambda_up of `jtt.upweights`, a fresh model trained with the error set weighted by it. As in
  the paper (section 5: "we tune the algorithm hyperparameters and model hyperparameters (such as early
  stopping) based on the worst-group accuracy on the validation set"), lambda_up is chosen by the worst-group
  validation accuracy of each final model, which with `jtt.early_stopping` is itself the evaluation with the best
  worst-group validation accuracy; JTT thus uses validation group labels."""
  del erm_dir
  model = build_backbone(config, dataset)
  first, _ = fit(config, dataset, model, os.path.join(run_dir, "identify"), cross_entropy_objective,
                 num_steps=config.jtt.first_steps, select=False, name="jtt-identify")
  train_name, val = dataset.roles["train"], dataset.splits[dataset.roles["validation"]]
  train = dict(dataset.splits[train_name])
  wrong = error_set(predict(first, train, config.eval_batch_size), train["label"])
  candidates = {}
  for upweight in config.jtt.upweights:
    reweighted = dataclasses.replace(dataset, splits={**dataset.splits, train_name: {
        **train, "weight": jtt_weights(wrong, upweight)}})
    state, info = fit(config, reweighted, model, os.path.join(run_dir, f"final_upweight{upweight:g}"),
                      cross_entropy_objective, name=f"jtt-{upweight:g}", **early_stopping(config.jtt.early_stopping))
    score = worst_group_accuracy(predict(state, val, config.eval_batch_size).argmax(-1), val["label"], val["group"])
    candidates[upweight] = (score, state, info)
  best = best_upweight({u: candidates[u][0] for u in config.jtt.upweights})
  _, state, info = candidates[best]
  return state, {**info, "error_set_size": int(wrong.sum()), "error_set_fraction": float(wrong.mean()),
                 "upweight": best, "validation_worst_group_accuracy_by_upweight": {
                     f"{u:g}": candidates[u][0] for u in config.jtt.upweights}}


def group_losses(losses: jnp.ndarray, groups: jnp.ndarray, num_groups: int) -> jnp.ndarray:
  """Mean loss of each group in a batch, 0 for a group the batch lacks: losses [B], groups int [B] -> [G]."""
  onehot = jax.nn.one_hot(groups, num_groups)
  return (losses @ onehot) / jnp.maximum(onehot.sum(0), 1.0)


def group_dro_weights(q: jnp.ndarray, group_loss: jnp.ndarray, step_size: float) -> jnp.ndarray:
  """One step of GroupDRO's online adversary (Sagawa et al., 2020, Algorithm 1): q <- q * exp(step_size * L_g),
  renormalized. q, group_loss [G] -> [G]; a group the batch lacks has L_g = 0, as in the authors' code."""
  q = q * jnp.exp(step_size * jax.lax.stop_gradient(group_loss))
  return q / jnp.sum(q)


def group_dro_objective(step_size: float, num_groups: int):
  """GroupDRO: the group weights q (the method state, uniform at the start) take one exponentiated-gradient
  step on the batch's group losses, then the loss is sum_g q_g L_g with the new q, a constant of the step."""

  def loss_fn(params, batch_stats, method_state, batch: dict, rng: jax.Array, apply_fn):
    logits, batch_stats = apply_model(apply_fn, params, batch_stats, batch["image"], rng)
    losses = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"])
    group_loss = group_losses(losses, batch["group"], num_groups)
    q = group_dro_weights(method_state["q"], group_loss, step_size)
    metrics = {"accuracy": batch_accuracy(logits, batch["label"]), "worst_batch_group_loss": jnp.max(group_loss),
               **{f"q_{g}": q[g] for g in range(num_groups)}}
    return jnp.sum(q * group_loss), (batch_stats, {"q": q}, metrics)

  return loss_fn


def group_dro(config: ml_collections.ConfigDict, dataset: Dataset, run_dir: str, erm_dir: str):
  """GroupDRO (Sagawa et al., 2020; uses training group labels). With `group_dro.early_stopping` the run keeps
  the evaluation with the best worst-group validation accuracy, the paper's early-stopping remedy (it uses
  validation group labels too); otherwise the config's own selection rule."""
  del erm_dir
  objective = group_dro_objective(config.group_dro.step_size, dataset.num_groups)
  q0 = {"q": jnp.full(dataset.num_groups, 1.0 / dataset.num_groups, jnp.float32)}
  return fit(config, dataset, build_backbone(config, dataset), run_dir, objective, name="group_dro",
             method_state=q0, **early_stopping(config.group_dro.early_stopping))


def group_balanced_index(groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
  """Row indices [G * m] of a group-balanced subset: m = the smallest group's size rows of every group present,
  drawn without replacement from `rng`, sorted."""
  present = np.unique(groups[groups >= 0])
  size = min(int(np.sum(groups == g)) for g in present)
  return np.sort(np.concatenate([rng.choice(np.flatnonzero(groups == g), size, replace=False) for g in present]))


def worst_group_accuracy(predictions: np.ndarray, labels: np.ndarray, groups: np.ndarray) -> float:
  return float(min(np.mean(predictions[groups == g] == labels[groups == g]) for g in np.unique(groups[groups >= 0])))


def as_dense_head(coef: np.ndarray, intercept: np.ndarray, mean: np.ndarray, scale: np.ndarray,
                  num_classes: int) -> dict:
  """{'kernel': [k, C], 'bias': [C]} giving, on unscaled features x, the scores coef @ ((x - mean) / scale) +
  intercept of a linear model fit on standardized features; a binary model's one score [1, k] becomes the logit
  of class 1 against class 0."""
  kernel, bias = coef / scale, intercept - (coef * mean / scale).sum(1)
  if num_classes == 2 and kernel.shape[0] == 1:
    kernel, bias = np.concatenate([np.zeros_like(kernel), kernel]), np.concatenate([[0.0], bias])
  return {"kernel": kernel.T.astype(np.float32), "bias": bias.astype(np.float32)}


def l1_logistic_regression(x: np.ndarray, labels: np.ndarray, strength: float) -> tuple[np.ndarray, np.ndarray]:
  """(coef [1 or C, k], intercept [1 or C]) of an L1 logistic regression with inverse strength `strength`
  (scikit-learn, liblinear; one-vs-rest where there are more than 2 classes, whose argmax is the prediction)."""
  # imported here, not at the top: scikit-learn takes about a second to import, which every launch.py process
  # (and every bad-input test) would otherwise pay
  from sklearn.linear_model import LogisticRegression  # pylint: disable=import-outside-toplevel
  from sklearn.multiclass import OneVsRestClassifier  # pylint: disable=import-outside-toplevel
  model = LogisticRegression(l1_ratio=1.0, C=strength, solver="liblinear")
  if len(np.unique(labels)) <= 2:
    model.fit(x, labels)
    return model.coef_, model.intercept_
  ovr = OneVsRestClassifier(model).fit(x, labels)
  return (np.concatenate([e.coef_ for e in ovr.estimators_]), np.concatenate([e.intercept_ for e in ovr.estimators_]))


def linear_predictions(x: np.ndarray, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
  """Class predictions [N] of linear scores: class 1 where the one binary score is positive, else the argmax."""
  scores = x @ coef.T + intercept
  return (scores[:, 0] > 0).astype(int) if scores.shape[1] == 1 else scores.argmax(1)


def dfr_head(features: np.ndarray, labels: np.ndarray, groups: np.ndarray, num_classes: int,
             strengths: tuple[float, ...], num_refits: int, seed: int) -> tuple[dict, dict]:
  """Deep Feature Reweighting's last layer (Kirichenko et al., 2023, section 5 and the authors' code), from
  validation features [N, k], labels and groups [N]:
  1. features standardized (mean and std of all of them);
  2. the inverse L1 strength C chosen from `strengths`: an L1 logistic regression (`l1_logistic_regression`) fit
     on a group-balanced subset of one random half, scored by worst-group accuracy on the other half;
  3. with that C, `num_refits` fits on group-balanced subsets of all the features, their weights averaged.
  Returns the head {'kernel' [k, C], 'bias' [C]} on unscaled features, and what was chosen."""
  if not strengths or num_refits < 1:
    raise UserError("dfr.strengths needs at least one value and dfr.refits must be >= 1")
  rng = np.random.default_rng([seed, 0xDF8])
  mean, scale = features.mean(0), features.std(0) + 1e-12
  x = (features - mean) / scale
  half = rng.permutation(len(labels)) < len(labels) // 2
  tune, score = np.flatnonzero(half), np.flatnonzero(~half)
  scores = {}
  for strength in strengths:
    fit_rows = tune[group_balanced_index(groups[tune], rng)]
    coef, intercept = l1_logistic_regression(x[fit_rows], labels[fit_rows], strength)
    scores[strength] = worst_group_accuracy(linear_predictions(x[score], coef, intercept), labels[score],
                                            groups[score])
  best = max(strengths, key=lambda c: (scores[c], -c))  # ties: the stronger regularization
  fits = [l1_logistic_regression(x[rows], labels[rows], best)
          for rows in (group_balanced_index(groups, rng) for _ in range(num_refits))]
  coef, intercept = np.mean([f[0] for f in fits], 0), np.mean([f[1] for f in fits], 0)
  return as_dense_head(coef, intercept, mean, scale, num_classes), {
      "inverse_l1_strength": best, "tuning_worst_group_accuracy": {str(c): v for c, v in scores.items()},
      "refits": num_refits}


def dfr(config: ml_collections.ConfigDict, dataset: Dataset, run_dir: str, erm_dir: str):
  """Deep Feature Reweighting: the ERM model's last layer refit on the validation split (`dfr_head`). Uses
  validation group labels; the validation metrics are then in-sample."""
  del run_dir
  state, info = fit(config, dataset, build_backbone(config, dataset), erm_dir, cross_entropy_objective, name="erm")
  val = dataset.splits[dataset.roles["validation"]]
  features = predict(state, val, config.eval_batch_size, method="features")
  head, chosen = dfr_head(features, val["label"], val["group"], dataset.num_classes, tuple(config.dfr.strengths),
                          config.dfr.refits, config.seed)
  params = jax.device_get(state.params)
  params = {**params, "classifier": {**params["classifier"], "out": head}}
  placed = jax.device_put(params, jax.tree.map(lambda x: x.sharding, state.params))
  info.pop("best_validation", None)  # the ERM run's, not the refit model's
  return state.replace(params=placed), {**info, "dfr": chosen, "last_layer_examples": int(len(val["label"]))}
