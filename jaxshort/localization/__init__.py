"""Where a shortcut lives: counterfactual (clean, skewed) training pairs, block splicing, hybrid tables, Shapley
attribution of core forgetting and spurious encoding, probes, principal axes and block-wise interventions.
See docs/localization.md and spec/localization.md."""
