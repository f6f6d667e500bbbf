"""SITAR's mathematics (Pal, Varshney & Rai, 2025; docs/sitar.md): targeted latent noise from batch shortcut
scores, its Jacobian penalty, and the loss. Imports nothing above jaxshort.models; the method that trains with it
is jaxshort/methods/vae.py."""

from jaxshort.sitar.loss import SitarHParams, sitar_loss, vae_loss
from jaxshort.sitar.penalty import directional_derivatives, exact_penalty, excess_terms, sample_penalty
from jaxshort.sitar.scores import class_balance_weights, shortcut_scores

__all__ = ["SitarHParams", "class_balance_weights", "directional_derivatives", "exact_penalty", "excess_terms",
           "sample_penalty", "shortcut_scores", "sitar_loss", "vae_loss"]
