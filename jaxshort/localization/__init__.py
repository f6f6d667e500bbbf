"""Where a shortcut lives: counterfactual (clean, skewed) training pairs, block splicing, hybrid tables, Shapley
attribution of core forgetting and spurious encoding, probes, principal axes and block-wise interventions.
A library: the `localize` experiment that uses it is jaxshort/experiments/localize.py. After Tsoy &
Konstantinov (2025); see docs/localization.md."""
