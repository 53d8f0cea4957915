"""Figures of measured numbers against exact ground truth."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import polars as pl  # noqa: E402


def plot_mse_vs_overlap(table: pl.DataFrame, exact: pl.DataFrame, path: str | Path) -> None:
    """Test MSE against overlap rho, one colour per subset (number of modalities): the exact
    Bayes MSE as a line over a fine rho grid (``exact``: overlap, subset, bayes_mse), measured
    means ± std as markers (filled: linear encoder, open: ReLU encoder)."""
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    subsets = table.select("subset", "n_modalities").unique().sort("n_modalities")
    colours = plt.cm.viridis_r([0.15 + 0.7 * i / max(1, subsets.height - 1)
                                for i in range(subsets.height)])
    for colour, subset in zip(colours, subsets["subset"]):
        label = "{" + subset.replace("+", ",") + "}"
        ex = exact.filter(pl.col("subset") == subset).sort("overlap")
        ax.plot(ex["overlap"], ex["bayes_mse"], color=colour, lw=1.5, label=f"{label} exact Bayes")
        rows = table.filter(pl.col("subset") == subset).sort("overlap")
        for enc, fill, dx in (("linear", colour, -0.008), ("relu", "none", 0.008)):
            if f"{enc}_mean" not in rows.columns:
                continue
            ax.errorbar(rows["overlap"] + dx, rows[f"{enc}_mean"], yerr=rows[f"{enc}_std"],
                        fmt="o" if enc == "linear" else "s", color=colour, mfc=fill, ms=5,
                        capsize=2, lw=0, elinewidth=1,
                        label=f"{label} {enc} encoder" if enc == "linear" else None)
    ax.plot([], [], "s", color="grey", mfc="none", label="ReLU encoder (open)")
    ax.set_xlabel("overlap ρ between modalities")
    ax.set_ylabel("test MSE (frozen encoder, refit linear head)")
    ax.set_title("Huang et al. 2021, Table 4 setting: measured vs exact")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)
