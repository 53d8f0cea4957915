"""Figures of measured numbers against exact ground truth, returned as matplotlib figures
(the workflow scripts save and close them)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import polars as pl  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from dgl.report.markdown import signed  # noqa: E402


def _label_edges(ax, i: int, j: int, n_rows: int, xlabel: str, ylabel: str) -> None:
    """Axis labels on the bottom row and the left column of a grid of panels only."""
    ax.grid(alpha=0.3)
    if i == n_rows - 1:
        ax.set_xlabel(xlabel)
    if j == 0:
        ax.set_ylabel(ylabel)


def mse_vs_overlap_figure(table: pl.DataFrame, exact: pl.DataFrame) -> Figure:
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
    return fig


def pid_vs_overlap_figure(pid: pl.DataFrame) -> Figure:
    """R, U_1, U_2, S of the pair 1 | 2 against overlap: one row per two-modality SNR setting,
    one column per synergy strength; solid MMI, dashed I_min."""
    pairs = pid.filter((pl.col("group_a") == "1") & (pl.col("group_b") == "2"))
    settings = [s for s in pairs["setting"].unique(maintain_order=True)
                if len(pairs.filter(pl.col("setting") == s)["snr"][0].split(",")) == 2]
    strengths = sorted(pairs["synergy_strength"].unique())
    fig, axes = plt.subplots(len(settings), len(strengths), squeeze=False, sharex=True, sharey=True,
                             figsize=(3.2 * len(strengths), 2.8 * len(settings)))
    atoms = [("redundancy", "R", "tab:blue"), ("unique_a", "U₁", "tab:orange"),
             ("unique_b", "U₂", "tab:green"), ("synergy", "S", "tab:red")]
    for i, setting in enumerate(settings):
        for j, strength in enumerate(strengths):
            ax = axes[i][j]
            sel = pairs.filter((pl.col("setting") == setting)
                               & (pl.col("synergy_strength") == strength))
            for name, style in (("mmi", "-"), ("imin", "--")):
                rows = sel.filter(pl.col("pid") == name).sort("overlap")
                for col, label, colour in atoms:
                    ax.plot(rows["overlap"], rows[col], style, color=colour, marker=".",
                            label=f"{label} ({'MMI' if name == 'mmi' else 'I_min'})")
            snr = sel["snr"][0] if sel.height else ""
            ax.set_title(f"{setting} (SNR {snr}), synergy {strength:g}", fontsize=8)
            _label_edges(ax, i, j, len(settings), "overlap ρ", "nats")
    axes[0][-1].legend(fontsize=6, ncol=2)
    fig.suptitle("PID of I(y; x₁, x₂), latent_classes generator (exact posteriors)", fontsize=10)
    fig.tight_layout()
    return fig


def gradient_ratio_figure(gradients: pl.DataFrame, chosen: pl.DataFrame,
                          overlap: float | None = None) -> Figure:
    """|g_multi| / |g_uni| per encoder over training (fraction of steps, 20 bins, mean over
    seeds), for the points chosen on validation (``chosen``: regime, overlap, tag); rows:
    regimes, columns: methods that train the shared head; one line per modality.
    ``overlap``: which rho to show (default: the middle of those present)."""
    keys = ["regime", "overlap", "tag"]
    g = gradients.join(chosen.select(keys).unique(), on=keys, how="semi")
    rhos = sorted(g["overlap"].unique())
    rho = overlap if overlap is not None else rhos[len(rhos) // 2]
    g = g.filter(pl.col("overlap") == rho).with_columns(
        (pl.col("g_multi") / pl.col("g_uni")).alias("ratio"),
        (pl.col("progress") * 20).floor().clip(0, 19).alias("bin"))
    methods = [m for m in ("joint", "dgl", "dgl_pid", "ogm_ge") if m in set(g["variant"])]
    settings = list(g["regime"].unique(maintain_order=True))
    fig, axes = plt.subplots(len(settings), len(methods), squeeze=False, sharex=True,
                             sharey=True, figsize=(3.0 * len(methods), 2.5 * len(settings)))
    for i, setting in enumerate(settings):
        for j, method in enumerate(methods):
            ax = axes[i][j]
            sel = g.filter((pl.col("regime") == setting) & (pl.col("variant") == method))
            for m in sorted(sel["modality"].unique()):
                curve = (sel.filter(pl.col("modality") == m).group_by("bin")
                         .agg(pl.col("ratio").mean()).sort("bin"))
                ax.plot((curve["bin"] + 0.5) / 20, curve["ratio"], marker=".", label=f"encoder {m}")
            ax.axhline(1.0, color="grey", lw=0.8, ls=":")
            ax.set_yscale("log")
            ax.set_title(f"{setting}, {method}", fontsize=8)
            _label_edges(ax, i, j, len(settings), "fraction of training", "|g_multi| / |g_uni|")
    for row in axes:
        row[0].legend(fontsize=6)
    fig.suptitle(f"Gradient suppression per encoder (ρ = {rho:g})", fontsize=10)
    fig.tight_layout()
    return fig


def _panel_grid(runs: pl.DataFrame, **subplots) -> tuple[Figure, list, list[tuple]]:
    """A grid of panels, rows (task, encoder) of ``runs``, columns its overlaps: the figure,
    its axes and one (axes, task, encoder, overlap) per panel."""
    cells = runs.select("task", "encoder").unique(maintain_order=True).rows()
    overlaps = sorted(runs["overlap"].unique())
    fig, axes = plt.subplots(len(cells), len(overlaps), squeeze=False,
                             figsize=(3.2 * len(overlaps), 2.8 * len(cells)), **subplots)
    panels = [(axes[i][j], task, enc, rho) for i, (task, enc) in enumerate(cells)
              for j, rho in enumerate(overlaps)]
    return fig, axes, panels


def _panel_labels(ax, task: str, enc: str, rho: float, ylabel: str) -> None:
    ax.set_title(f"{task}, {enc}, ρ = {rho:g}", fontsize=8)
    ax.set_xlabel("fraction of n_max")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)


def _legends_and_layout(fig: Figure, axes) -> Figure:
    for row in axes:
        row[0].legend(fontsize=5, ncol=2)
    fig.tight_layout()
    return fig


def eta_figure(runs: pl.DataFrame) -> Figure:
    """eta against overlap at the full sample: one line per number of modalities (mean over
    subsets, error bars: std over seeds and subsets), one panel per task and encoder."""
    cells = runs.select("task", "encoder").unique(maintain_order=True).rows()
    full = runs.filter(pl.col("fraction") == runs["fraction"].max())
    fig, axes = plt.subplots(1, len(cells), squeeze=False, figsize=(3.6 * len(cells), 3.0))
    for ax, (task, enc) in zip(axes[0], cells):
        sel = full.filter((pl.col("task") == task) & (pl.col("encoder") == enc))
        agg = sel.group_by("overlap", "n_modalities").agg(pl.col("eta").mean(),
                                                          pl.col("eta").std().alias("sd"))
        for n in sorted(agg["n_modalities"].unique()):
            a = agg.filter(pl.col("n_modalities") == n).sort("overlap")
            ax.errorbar(a["overlap"], a["eta"], yerr=a["sd"], marker="o", capsize=2,
                        label=f"{n} modalities (mean over subsets)")
        ax.set_title(f"{task}, {enc} encoder", fontsize=8)
        ax.set_xlabel("overlap ρ")
        ax.set_ylabel("η (risk above Bayes of all)")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    return fig


def accuracy_figure(runs: pl.DataFrame) -> Figure:
    """Population risk (accuracy for classification) against the sample fraction, log x, one
    line per subset, its exact Bayes value dashed; panels: (task, encoder) x overlap."""
    fig, axes, panels = _panel_grid(runs)
    for ax, task, enc, rho in panels:
        sel = runs.filter((pl.col("task") == task) & (pl.col("encoder") == enc)
                          & (pl.col("overlap") == rho))
        kind = sel["kind"][0] if sel.height else "regression"
        metric, bayes = (("model_acc", "bayes_acc_subset") if kind == "classification"
                         else ("model_risk", "bayes_risk_subset"))
        subsets = sorted(sel["subset"].unique(), key=lambda s: (len(s), s))
        for colour, subset in zip(plt.cm.tab10.colors, subsets):
            a = sel.filter(pl.col("subset") == subset).group_by("fraction").agg(
                pl.col(metric).mean(), pl.col(bayes).first()).sort("fraction")
            ax.plot(a["fraction"], a[metric], marker=".", color=colour,
                    label="{" + subset.replace("+", ",") + "}")
            ax.axhline(a[bayes][0], color=colour, ls="--", lw=0.8)
        if not sel[metric].drop_nulls().len():  # every model diverged: nothing to scale
            ax.text(0.5, 0.5, "every model diverged", transform=ax.transAxes, ha="center")
        else:
            ax.set_xscale("log")
            if kind == "regression":
                ax.set_yscale("log")
        _panel_labels(ax, task, enc, rho,
                      "test accuracy" if kind == "classification" else "test MSE")
    return _legends_and_layout(fig, axes)


def gamma_figure(runs: pl.DataFrame, gamma: pl.DataFrame) -> Figure:
    """gamma_S(M, N) against the sample fraction with 95 % intervals, one line per nested
    pair; panels: (task, encoder) x overlap."""
    fig, axes, panels = _panel_grid(runs, sharex=True)
    for ax, task, enc, rho in panels:
        sel = gamma.filter((pl.col("task") == task) & (pl.col("encoder") == enc)
                           & (pl.col("overlap") == rho))
        for (m, n), g in sel.group_by(["M", "N"], maintain_order=True):
            g = g.sort("fraction")
            ax.errorbar(g["fraction"], g["gamma"], yerr=[g["gamma"] - g["gamma_lo"],
                        g["gamma_hi"] - g["gamma"]], marker=".", capsize=2, lw=1,
                        label=f"{m} vs {n}")
        ax.axhline(0, color="grey", lw=0.8, ls=":")
        if not sel["gamma"].drop_nulls().len():  # every pair diverged: nothing to scale
            ax.text(0.5, 0.5, "every model diverged", transform=ax.transAxes, ha="center")
        else:
            ax.set_xscale("log")
            ax.set_yscale("symlog", linthresh=1e-3)
        _panel_labels(ax, task, enc, rho, "γ_S(M, N)")
    return _legends_and_layout(fig, axes)


def main_curves_figure(methods: pl.DataFrame) -> Figure:
    """The main study against sample size: per regime, the weak modality's eta (nats) and the
    fused test accuracy (mean over seeds) against the training rows n (log scale), one line
    per method, one column per overlap; the exact Bayes accuracy of all modalities dashed."""
    regimes = methods["regime"].unique(maintain_order=True).to_list()
    overlaps = sorted(methods["overlap"].unique().to_list())
    rows_ = sorted(methods["row"].unique().to_list())
    colours = dict(zip(rows_, plt.cm.tab10.colors))
    n_rows = 2 * len(regimes)
    fig, axes = plt.subplots(n_rows, len(overlaps), figsize=(3.0 * len(overlaps), 2.5 * n_rows),
                             squeeze=False, sharex=True)
    for r, regime in enumerate(regimes):
        for j, rho in enumerate(overlaps):
            sel = methods.filter((pl.col("regime") == regime) & (pl.col("overlap") == rho))
            for i, (column, label) in enumerate((("weak_eta", "weak-modality eta (nats)"),
                                                 ("fused_acc", "fused test accuracy"))):
                ax = axes[2 * r + i, j]
                for row in rows_:
                    line = sel.filter(pl.col("row") == row).sort("n_train")
                    if line.height and line[column].drop_nulls().len():
                        ax.plot(line["n_train"], line[column], "o-", ms=3, lw=1,
                                color=colours[row], label=row)
                if column == "fused_acc" and sel.height:
                    ax.axhline(sel["bayes_acc_all"][0], color="k", ls="--", lw=0.8)
                ax.set_xscale("log")
                ax.set_title(f"{regime}, ρ = {rho:g}", fontsize=9)
                _label_edges(ax, 2 * r + i, j, n_rows, "training rows n", label)
    handles, labels = axes[1, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=min(len(labels), 8), fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    return fig


def main_heatmap_figure(pairs: pl.DataFrame) -> Figure:
    """Paired differences A - B over overlap x sample size, one panel per (comparison,
    measure) and regime: colour and number the mean difference (accuracy in points, eta in
    nats), a box where its 95 % t interval excludes 0."""
    combos = pairs.select("comparison", "measure").unique(maintain_order=True).rows()
    regimes = pairs["regime"].unique(maintain_order=True).to_list()
    fig, axes = plt.subplots(len(combos), len(regimes), squeeze=False,
                             figsize=(4.2 * len(regimes), 2.4 * len(combos)))
    for i, (name, measure) in enumerate(combos):
        for j, regime in enumerate(regimes):
            ax = axes[i, j]
            sel = pairs.filter((pl.col("comparison") == name) & (pl.col("measure") == measure)
                               & (pl.col("regime") == regime))
            overlaps = sorted(sel["overlap"].unique().to_list())
            sizes = sorted(sel["n_train"].unique().to_list())
            scale = 100.0 if measure == "fused_acc" else 1.0
            grid = [[None] * len(sizes) for _ in overlaps]
            for r in sel.iter_rows(named=True):
                grid[overlaps.index(r["overlap"])][sizes.index(r["n_train"])] = r
            values = [[(c["diff"] * scale if c and c["diff"] is not None else float("nan"))
                       for c in row] for row in grid]  # no number: a cell that diverged
            bound = max([abs(v) for row in values for v in row if v == v] or [1.0]) or 1.0
            cmap = "RdBu" if measure == "fused_acc" else "RdBu_r"
            ax.imshow(values, cmap=cmap, vmin=-bound, vmax=bound, aspect="auto", origin="lower")
            for a, row in enumerate(grid):
                for b, cell in enumerate(row):
                    if cell is None:
                        continue
                    if cell["diff"] is None:
                        ax.text(b, a, "div.", ha="center", va="center", fontsize=7)
                        continue
                    ax.text(b, a, signed(cell["diff"] * scale, 2), ha="center", va="center",
                            fontsize=7, fontweight="bold" if cell["verdict"] != "within noise"
                            else "normal")
                    if cell["verdict"] != "within noise":
                        ax.add_patch(plt.Rectangle((b - 0.5, a - 0.5), 1, 1, fill=False, lw=1.2))
            ax.set_xticks(range(len(sizes)), [str(s) for s in sizes], fontsize=7)
            ax.set_yticks(range(len(overlaps)), [f"{o:g}" for o in overlaps], fontsize=7)
            unit = "points" if measure == "fused_acc" else "nats"
            ax.set_title(f"{regime}: {name}, {measure} ({unit})", fontsize=8)
            if i == len(combos) - 1:
                ax.set_xlabel("training rows n")
            if j == 0:
                ax.set_ylabel("overlap ρ")
    fig.tight_layout()
    return fig
