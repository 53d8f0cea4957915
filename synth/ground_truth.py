"""Tables of exact ground truth, derived from generator laws (never from trained models)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from synth.generators import make_law
from synth.subsets import Subset, all_subsets, format_subset


def bayes_mse_table(
    generator: str,
    params: dict[str, Any],
    overlaps: Sequence[float],
    subsets: Sequence[Subset] | None = None,
) -> pl.DataFrame:
    """Exact Bayes MSE r*(S) of every subset S (all non-empty ones by default) at every overlap.

    Columns: overlap, subset (e.g. '1+3'), n_modalities, bayes_mse.
    """
    rows = []
    for rho in overlaps:
        law = make_law(generator, **params, overlap=float(rho))
        for subset in subsets if subsets is not None else all_subsets(law.n_modalities):
            rows.append({
                "overlap": float(rho),
                "subset": format_subset(subset),
                "n_modalities": len(subset),
                "bayes_mse": law.bayes_mse(subset),
            })
    return pl.DataFrame(rows)
