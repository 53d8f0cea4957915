"""Tables of measured numbers beside the exact ones: aggregation over seeds and formatting.

Aggregation is mean and sample standard deviation (ddof = 1) over seeds; every row keeps the
number of seeds it averages.
"""

from __future__ import annotations

import polars as pl

#: Columns that hold names, never numbers (a subset "1" must stay the string "1").
TEXT_COLUMNS = ("subset", "group_a", "group_b", "snr", "setting", "encoder", "pid", "method",
                "variant", "tag", "options", "status", "device")


def read_table(path, **kwargs) -> pl.DataFrame:
    """Read a CSV of the pipeline (or a resource), keeping name columns as strings."""
    schema = pl.read_csv(path, n_rows=0, **kwargs).columns
    frame = pl.read_csv(
        path, schema_overrides={c: pl.String for c in schema if c in TEXT_COLUMNS}, **kwargs
    )
    empty = [c for c in frame.columns  # numbers of diverged models only: all empty
             if c not in TEXT_COLUMNS and frame[c].dtype == pl.String
             and frame[c].null_count() == frame.height]
    return frame.with_columns(pl.col(empty).cast(pl.Float64))


def with_status(frame: pl.DataFrame) -> pl.DataFrame:
    """Per-model rows with a ``status`` column ('ok' where a frame predates it)."""
    return frame if "status" in frame.columns else frame.with_columns(status=pl.lit("ok"))


def ok_count() -> pl.Expr:
    """Models (seeds) of a group that trained without diverging."""
    return (pl.col("status") == "ok").sum()


def diverged_count() -> pl.Expr:
    """Models of a group whose loss became NaN/inf: reported, never averaged in."""
    return (pl.col("status") == "diverged").sum()


#: How a measured cell of Huang et al. Table 4 is compared with the paper: within
#: max(3 * paper std, 5 % of the paper value), or within 1.0 where the paper reports 0.
PAPER_ABS_TOL_ZERO = 1.0


#: The simulated setting of Huang et al. Table 4; published values are compared only there.
HUANG2021_SETTING = {"n_modalities": 4, "dim": 100, "n_train": 7000, "n_test": 3000}


def is_huang2021_setting(n_modalities: int, dim: int, n_train: int, n_test: int) -> bool:
    """Whether a config reproduces the paper's simulated setting (else its values don't apply)."""
    given = {"n_modalities": n_modalities, "dim": dim, "n_train": n_train, "n_test": n_test}
    return given == HUANG2021_SETTING


def within_paper(measured: pl.Expr, paper: pl.Expr, paper_std: pl.Expr) -> pl.Expr:
    """Whether a measured mean lies within the paper's value +- max(3 std, 5 %), or within
    :data:`PAPER_ABS_TOL_ZERO` of a zero paper value."""
    tol = pl.when(paper == 0).then(PAPER_ABS_TOL_ZERO).otherwise(
        pl.max_horizontal(3 * paper_std, 0.05 * paper.abs())
    )
    return (measured - paper).abs() <= tol


def huang_table4(metrics: pl.DataFrame, paper: pl.DataFrame | None) -> pl.DataFrame:
    """One row per (subset, overlap): refit test MSE (the latent-quality protocol) per encoder
    as mean and std over seeds, the end-to-end model MSE, exact r*(S), the least-squares
    expectation, the paper's value and whether the linear encoder lies within its tolerance.

    ``metrics``: rows of :func:`dgl.runs.evaluate_regression_cell` plus an ``overlap`` column.
    ``paper``: columns subset, overlap, paper_mse, paper_std, or None when the study is not
    in the paper's setting (the paper columns are then left empty).
    """
    keys = ["subset", "n_modalities", "overlap"]
    agg = with_status(metrics).group_by(keys + ["encoder"]).agg(
        pl.col("test_mse_refit").mean().alias("mean"),
        pl.col("test_mse_refit").std().alias("std"),
        pl.col("test_mse_model").mean().alias("model_mean"),
        pl.col("test_mse_model").std().alias("model_std"),
        ok_count().alias("n_seeds"),
        diverged_count().alias("n_diverged"),
        pl.col("bayes_mse_subset").first().alias("bayes_mse"),
        pl.col("ols_expected_mse").drop_nulls().first().alias("ols_expected_mse"),
    )
    wide = None
    for enc in sorted(agg["encoder"].unique()):
        part = agg.filter(pl.col("encoder") == enc).drop("encoder")
        part = part.rename({c: f"{enc}_{c}" for c in ["mean", "std", "model_mean", "model_std",
                                                      "n_seeds", "n_diverged"]})
        wide = part if wide is None else wide.join(
            part.drop("bayes_mse", "ols_expected_mse"), on=keys, how="full", coalesce=True
        )
    assert wide is not None, "no metrics"
    if paper is None:
        paper = pl.DataFrame(schema={"subset": pl.String, "overlap": pl.Float64,
                                     "paper_mse": pl.Float64, "paper_std": pl.Float64})
    table = wide.join(paper, on=["subset", "overlap"], how="left")
    if "linear_mean" in table.columns and table["paper_mse"].null_count() < table.height:
        table = table.with_columns(
            within_paper(pl.col("linear_mean"), pl.col("paper_mse"), pl.col("paper_std"))
            .alias("linear_within_paper_tol")
        )
    return table.sort(["n_modalities", "subset", pl.col("overlap")], descending=[False, False, True])


def _pm(mean: float | None, std: float | None, digits: int = 2) -> str:
    if mean is None:
        return "–"
    if std is None:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def huang_table4_markdown(table: pl.DataFrame) -> str:
    """Rows: subsets; columns: overlaps (as in the paper); each cell lists the measured and
    exact numbers named in the legend."""
    encoders = [c.removesuffix("_mean") for c in table.columns
                if c.endswith("_mean") and not c.endswith("model_mean")]
    overlaps = sorted(table["overlap"].unique(), reverse=True)
    subsets = table.select("subset", "n_modalities").unique().sort("n_modalities", "subset")
    header = "| Modalities | " + " | ".join(f"overlap {o:g}" for o in overlaps) + " |"
    lines = [header, "|---|" + "---|" * len(overlaps)]
    for subset in subsets["subset"]:
        cells = []
        for o in overlaps:
            r = table.filter((pl.col("subset") == subset) & (pl.col("overlap") == o)).row(0, named=True)
            parts = [f"{enc}: **{_pm(r[f'{enc}_mean'], r[f'{enc}_std'])}**"
                     + (f" ({r[f'{enc}_n_diverged']} diverged)" if r[f"{enc}_n_diverged"] else "")
                     for enc in encoders]
            parts.append(f"Bayes: {r['bayes_mse']:.2f}")
            parts.append(f"LS: {r['ols_expected_mse']:.2f}")
            if r["paper_mse"] is not None:
                parts.append(f"paper: {_pm(r['paper_mse'], r['paper_std'])}")
            if r.get("linear_within_paper_tol") is False:
                parts.append("(linear outside paper tolerance)")
            cells.append("<br>".join(parts))
        lines.append(f"| {subset.replace('+', ', ')} | " + " | ".join(cells) + " |")
    n_seeds = sorted({int(v) for enc in encoders for v in table[f"{enc}_n_seeds"].drop_nulls()})
    inside = table["linear_within_paper_tol"].sum() if "linear_within_paper_tol" in table.columns else None
    legend = [
        "",
        "Test MSE of y = sum of all coordinates, Huang et al. (NeurIPS 2021) Table 4 protocol: "
        "the trained encoder is frozen and the least-squares linear head is refit on the "
        f"training features; mean ± std over {', '.join(map(str, n_seeds))} seeds (each seed: "
        "fresh data and initialisation). **linear** / **relu**: encoder kind. **Bayes**: exact "
        "r*(S) from the generator's law. **LS**: expected test MSE of least squares on the "
        "subset's inputs, r*(S)(1 + p/(n - p - 1)), p = rank Cov(x_S), n = training rows. "
        "**paper**: the published value.",
    ]
    if table["paper_mse"].null_count() == table.height:
        legend.append("This study is not in the paper's setting "
                      f"({HUANG2021_SETTING}): published values are not compared.")
    n_div = sum(int(v) for enc in encoders for v in table[f"{enc}_n_diverged"].drop_nulls())
    if n_div:
        legend.append(f"{n_div} model(s) diverged (training loss NaN/inf): counted in their "
                      "cells as 'diverged', never averaged in.")
    if inside is not None:
        legend.append(
            f"Linear encoder within the paper's value ± max(3 std, 5 %) (± {PAPER_ABS_TOL_ZERO:g} "
            f"for zero cells): {inside} of {table.height} cells."
        )
    return "\n".join(lines + legend) + "\n"


def _grid_table(frame: pl.DataFrame, row_keys: list[str], cell) -> list[str]:
    """Markdown table: one row per distinct ``row_keys`` combination, one column per overlap,
    cells formatted by ``cell(row_dict)``."""
    overlaps = sorted(frame["overlap"].unique())
    lines = ["| " + " | ".join(row_keys) + " | " + " | ".join(f"ρ = {o:g}" for o in overlaps)
             + " |", "|" + "---|" * (len(row_keys) + len(overlaps))]
    for keys in frame.select(row_keys).unique(maintain_order=True).iter_rows():
        sel = frame.filter(pl.all_horizontal([pl.col(k) == v for k, v in zip(row_keys, keys)]))
        cells = []
        for o in overlaps:
            hit = sel.filter(pl.col("overlap") == o)
            cells.append(cell(hit.row(0, named=True)) if hit.height else "–")
        lines.append("| " + " | ".join(str(k) for k in keys) + " | " + " | ".join(cells) + " |")
    return lines


def _atoms(r: dict) -> str:
    return f"{r['redundancy']:.3f} / {r['unique_a']:.3f} / {r['unique_b']:.3f} / {r['synergy']:.3f}"


def pid_checks(pid: pl.DataFrame) -> list[str]:
    """Sentences computed from the PID table for the limiting cases the generator is built to
    show: (1) equal SNRs, synergy 0, rho = 1: no unique information and no synergy; (2) the
    information a modality adds to the other, I(y; B | A), grows as rho falls; (3) the synergy
    knob raises synergy. Each says whether it held."""
    out = []
    pairs = pid.filter((pl.col("group_a") == "1") & (pl.col("group_b") == "2"))
    equal = pairs.filter(pl.col("snr").map_elements(
        lambda s: len(set(s.split(","))) == 1, return_dtype=pl.Boolean))
    lim = equal.filter((pl.col("synergy_strength") == 0) & (pl.col("overlap") == 1))
    if lim.height:
        worst = float(lim.select(pl.max_horizontal(
            pl.col("unique_a").abs(), pl.col("unique_b").abs(), pl.col("synergy").abs())).max().item())
        out.append(f"- Equal SNRs, synergy 0, ρ = 1 (pair 1 | 2, both PIDs): largest |U| or |S| = "
                   f"{worst:.2e} nats — {'held' if worst < 1e-6 else 'NOT held'} (expected 0).")
    for label, strengths, claim in (
            ("synergy strength 0", pairs["synergy_strength"] == 0, True),
            ("synergy strength > 0", pairs["synergy_strength"] > 0, False)):
        mono = []
        for _, grp in pairs.filter(strengths & (pl.col("pid") == "mmi")).group_by(
                ["setting", "synergy_strength"], maintain_order=True):
            vals = grp.sort("overlap")["i_b_given_a"].to_list()
            mono.append(all(a >= b - 1e-9 for a, b in zip(vals, vals[1:])))
        if not mono:
            continue
        if claim:
            out.append(f"- I(y; x_2 | x_1) = U_2 + S falls as ρ rises ({label}) in {sum(mono)} of "
                       f"{len(mono)} settings — {'held' if all(mono) else 'NOT held everywhere'}.")
        else:
            out.append(f"- With {label}, I(y; x_2 | x_1) falls as ρ rises in {sum(mono)} of "
                       f"{len(mono)} (setting, strength) series: it also holds the synergy, "
                       "whose value need not fall with ρ (not a prediction, shown for reference).")
    raises = []
    for _, grp in pairs.group_by(["setting", "overlap", "pid"], maintain_order=True):
        vals = grp.sort("synergy_strength")["synergy"].to_list()
        raises.append(all(b >= a - 1e-9 for a, b in zip(vals, vals[1:])) and vals[-1] > vals[0])
    if raises:
        out.append(f"- Raising the synergy strength raises the synergy atom in {sum(raises)} of "
                   f"{len(raises)} (setting, ρ, PID) series — "
                   f"{'held' if all(raises) else 'NOT held everywhere'}.")
    return out


def ground_truth_markdown(subsets: pl.DataFrame, pid: pl.DataFrame, regression: pl.DataFrame) -> str:
    """The ground-truth tables: Bayes accuracy and MI per subset, PID per pair (classification),
    PID of the regression generator."""
    lines = [
        "# Exact ground truth of the generators",
        "",
        "Classification generator `latent_classes` (see README, 'What the data is'). All "
        "information in nats. Cells of the first tables: Bayes accuracy ± 95 % half-width, and "
        "I(x_S; y) (the Bayes cross-entropy is H(y) - I, in `ground_truth.csv`). Monte Carlo "
        "over the exact posterior, sample size per setting in `n_mc_samples`.",
        "",
        "## Checks",
        "",
        *pid_checks(pid),
        "",
    ]
    for setting, grp in subsets.group_by("setting", maintain_order=True):
        lines += [f"## Setting `{setting[0]}` (SNR {grp['snr'][0]}): Bayes accuracy and MI", ""]
        lines += _grid_table(grp.sort("synergy_strength", "n_modalities", "subset"),
                             ["synergy_strength", "subset"],
                             lambda r: f"{r['bayes_accuracy']:.4f} ± {r['bayes_accuracy_hw95']:.4f}"
                                       f" · I {r['mutual_information']:.3f}")
        lines.append("")
    lines += ["## PID per pair of modality groups (R / U_a / U_b / S)", "",
              "MMI: redundancy = min(I_a, I_b); it gives the weaker group no unique information "
              "and counts noise averaging as synergy. I_min (Williams-Beer): redundancy = "
              "sum_y p(y) min specific information; it overcounts redundancy. Neither sets "
              "R = 0 at ρ = 0: conditionally independent modalities that inform the same label "
              "share redundancy. Shown: pair 1 | 2 and, for K = 4, split 1+2 | 3+4; every pair "
              "is in `ground_truth_pid.csv`.", ""]
    shown = pid.filter(((pl.col("group_a") == "1") & (pl.col("group_b") == "2"))
                       | ((pl.col("group_a") == "1+2") & (pl.col("group_b") == "3+4")))
    for setting, grp in shown.group_by("setting", maintain_order=True):
        lines += [f"### Setting `{setting[0]}` (SNR {grp['snr'][0]})", ""]
        lines += _grid_table(grp.sort("group_a", "synergy_strength", "pid"),
                             ["group_a", "group_b", "synergy_strength", "pid"], _atoms)
        lines.append("")
    lines += ["## Regression generator `huang_overlap` with label noise (R / U_a / U_b / S)", "",
              "Exact (Gaussian). For a scalar Gaussian target I_min coincides with MMI.", ""]
    reg = regression.filter(pl.col("group_a").is_in(["1"]) & pl.col("group_b").is_in(["2", "2+3+4", "2+3"]))
    lines += _grid_table(reg, ["group_a", "group_b", "pid"], _atoms)
    return "\n".join(lines) + "\n"


# --- the imbalance study ------------------------------------------------------------------


def _model_rows(metrics: pl.DataFrame) -> pl.DataFrame:
    """One row per trained model (metrics has one per model and modality)."""
    return metrics.unique(["setting", "overlap", "tag", "seed", "subset"], keep="first",
                          maintain_order=True)


def select_variants(metrics: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Choose each variant's swept options on validation: per (setting, overlap, variant), the
    tag with the highest mean fused validation accuracy over seeds (never the test set).
    Returns (metrics of the chosen tags, the sweep table with a ``chosen`` column)."""
    metrics = with_status(metrics)
    sweep = (_model_rows(metrics)
             .group_by(["setting", "overlap", "variant", "tag", "options"])
             .agg(pl.col("val_acc").mean().alias("val_acc_mean"),
                  pl.col("val_acc").std().alias("val_acc_std"),
                  pl.col("test_acc").mean().alias("test_acc_mean"), ok_count().alias("n_models"),
                  diverged_count().alias("n_diverged"))
             .sort(["setting", "overlap", "variant", "tag"]))
    best = sweep.sort("val_acc_mean", descending=True, nulls_last=True).group_by(
        ["setting", "overlap", "variant"]).first().select("setting", "overlap", "variant", "tag")
    sweep = sweep.join(best.with_columns(pl.lit(True).alias("chosen")),
                       on=["setting", "overlap", "variant", "tag"], how="left").with_columns(
        pl.col("chosen").fill_null(False))
    chosen = metrics.join(best, on=["setting", "overlap", "variant", "tag"], how="semi")
    return chosen, sweep


def imbalance_table(chosen: pl.DataFrame, truth: pl.DataFrame) -> pl.DataFrame:
    """One row per (setting, overlap, method row, modality): fused test accuracy of the method
    (mean, std over seeds), that modality's linear-probe accuracy and CE, the exact Bayes
    accuracy / CE of the modality alone and of all modalities, per-modality eta (Bayes minus
    probe accuracy; probe CE minus Bayes CE) and the imbalance degree (largest minus smallest
    probe accuracy of the model's modalities, mean over seeds). Unimodal models appear as
    rows ``unimodal_m<k>``."""
    rows = with_status(chosen).with_columns(
        pl.when(pl.col("method") == "unimodal")
        .then(pl.concat_str([pl.lit("unimodal_m"), pl.col("subset")]))
        .otherwise(pl.col("variant")).alias("row"))
    keys = ["setting", "overlap", "row"]
    degree = (rows.group_by(keys + ["seed"])
              .agg((pl.col("probe_acc").max() - pl.col("probe_acc").min()).alias("d"),
                   pl.len().alias("k"))
              .group_by(keys).agg(pl.col("d").mean().alias("imbalance_degree"),
                                  pl.col("d").std().alias("imbalance_degree_std"),
                                  pl.col("k").max().alias("k")))
    per_mod = rows.group_by(keys + ["modality"]).agg(
        pl.col("test_acc").mean().alias("fused_test_acc"),
        pl.col("test_acc").std().alias("fused_test_acc_std"),
        pl.col("probe_acc").mean().alias("probe_acc"),
        pl.col("probe_acc").std().alias("probe_acc_std"),
        pl.col("probe_ce").mean().alias("probe_ce"),
        pl.col("tag").first().alias("chosen_tag"),
        ok_count().alias("n_seeds"), diverged_count().alias("n_diverged"))
    t = truth.select("setting", "overlap", "subset", "bayes_accuracy", "bayes_accuracy_hw95",
                     "bayes_cross_entropy")
    mod_truth = t.filter(~pl.col("subset").str.contains(r"\+")).with_columns(
        pl.col("subset").cast(pl.Int64).alias("modality")).drop("subset").rename(
        {"bayes_accuracy": "bayes_acc_modality", "bayes_accuracy_hw95": "bayes_acc_modality_hw95",
         "bayes_cross_entropy": "bayes_ce_modality"})
    full = (t.with_columns(pl.col("subset").str.count_matches(r"\+").alias("plus"))
            .sort("plus", descending=True).group_by(["setting", "overlap"]).first()
            .select("setting", "overlap", pl.col("bayes_accuracy").alias("bayes_acc_all")))
    out = (per_mod.join(degree, on=keys).join(mod_truth, on=["setting", "overlap", "modality"])
           .join(full, on=["setting", "overlap"])
           .with_columns((pl.col("bayes_acc_modality") - pl.col("probe_acc")).alias("eta_acc"),
                         (pl.col("probe_ce") - pl.col("bayes_ce_modality")).alias("eta_ce")))
    return out.sort(["setting", "overlap", "row", "modality"])


def _hardest(snr: list[float]) -> set[int]:
    low = min(snr)
    return {k + 1 for k, v in enumerate(snr) if v == low}


def imbalance_findings(table: pl.DataFrame, settings: dict[str, list[float]]) -> list[str]:
    """Sentences computed from the table: does DGL (and DGL+PID, OGM-GE) raise the probe
    accuracy of the hardest modality over joint training (or DGL), and by how much, overall
    and per setting."""
    out = []
    for a, b in (("dgl", "joint"), ("dgl_pid", "dgl"), ("dgl_pid", "joint"), ("ogm_ge", "joint")):
        diffs: dict[str, list[float]] = {}
        for setting, snr in settings.items():
            for k in _hardest(snr):
                sel = table.filter((pl.col("setting") == setting) & (pl.col("modality") == k))
                pa = sel.filter(pl.col("row") == a).select("overlap", pl.col("probe_acc").alias("a"))
                pb = sel.filter(pl.col("row") == b).select("overlap", pl.col("probe_acc").alias("b"))
                diffs.setdefault(setting, []).extend(
                    pa.join(pb, on="overlap").select(pl.col("a") - pl.col("b")).to_series().to_list())
        every = [d for v in diffs.values() for d in v]
        if every:
            per = ", ".join(f"{s}: {sum(v) / len(v) * 100:+.2f}" for s, v in diffs.items() if v)
            out.append(f"- Probe accuracy of the hardest modality, {a} minus {b}: mean "
                       f"{sum(every) / len(every) * 100:+.2f} points over {len(every)} "
                       f"(setting, overlap, modality) cells, {a} higher in "
                       f"{sum(d > 0 for d in every)}; per setting ({per}).")
    return out


def imbalance_markdown(table: pl.DataFrame, sweep: pl.DataFrame,
                       settings: dict[str, list[float]]) -> str:
    lines = ["# The imbalance study", "",
             "Every method trains the same late-fusion model (ReLU encoders, concatenation, linear "
             "head) with the same optimiser and epochs; swept options (DGL alpha, DGL+PID alpha "
             "and beta_0) are chosen per setting and overlap on the validation split "
             "(`imbalance_sweep.csv`). Cells: mean ± std over seeds. *probe*: accuracy of the "
             "best linear head on that modality's frozen encoder (test rows); *Bayes*: exact "
             "accuracy of that modality alone; *eta*: probe cross-entropy minus the exact "
             "Bayes cross-entropy of the modality (nats); *degree*: largest minus smallest "
             "probe accuracy.", "", "## Findings", "", *imbalance_findings(table, settings), ""]
    for (setting, rho), grp in table.group_by(["setting", "overlap"], maintain_order=True):
        snr = ",".join(f"{v:g}" for v in settings[setting])
        lines += [f"## `{setting}` (SNR {snr}), ρ = {rho:g} — Bayes accuracy of all "
                  f"modalities {grp['bayes_acc_all'][0]:.4f}", "",
                  "| method | fused test acc | per modality: probe acc (Bayes) · eta | degree | options |",
                  "|---|---|---|---|---|"]
        for row, r in grp.group_by("row", maintain_order=True):
            mods = " <br> ".join(
                f"m{m['modality']}: {m['probe_acc']:.4f} ± {m['probe_acc_std'] or 0:.4f} "
                f"({m['bayes_acc_modality']:.4f}) · {m['eta_ce']:.3f}"
                for m in r.sort("modality").iter_rows(named=True))
            first = r.row(0, named=True)
            degree = (f"{first['imbalance_degree']:.4f}" if first["k"] > 1 else "–")
            lines.append(f"| {row[0]} | {first['fused_test_acc']:.4f} ± "
                         f"{first['fused_test_acc_std'] or 0:.4f} | {mods} | {degree} | "
                         f"`{first['chosen_tag']}` |")
        lines.append("")
    return "\n".join(lines) + "\n"


def gradient_table(gradients: pl.DataFrame, chosen: pl.DataFrame) -> pl.DataFrame:
    """|g_multi|, |g_uni| and their ratio per (setting, overlap, method, modality) at the start
    (first measurement), middle (nearest to half of training) and end (last), mean over seeds
    (the ratio is averaged per seed), for the chosen tags only."""
    tags = chosen.select("setting", "overlap", "tag").unique()
    g = gradients.join(tags, on=["setting", "overlap", "tag"], how="semi").with_columns(
        (pl.col("g_multi") / pl.col("g_uni")).alias("ratio"))
    keys = ["setting", "overlap", "variant", "modality"]
    last = g.group_by(keys).agg(pl.col("progress").max().alias("p_end"))
    g = g.join(last, on=keys)
    out = []
    for phase, target in (("start", 0.0), ("middle", 0.5), ("end", None)):
        want = pl.col("p_end") if target is None else pl.lit(target)
        near = g.with_columns((pl.col("progress") - want).abs().alias("dist"))
        best = near.group_by(keys).agg(pl.col("dist").min().alias("dmin"))
        sel = near.join(best, on=keys).filter(pl.col("dist") == pl.col("dmin"))
        out.append(sel.group_by(keys).agg(
            pl.col("g_multi").mean().alias(f"g_multi_{phase}"),
            pl.col("g_uni").mean().alias(f"g_uni_{phase}"),
            pl.col("ratio").mean().alias(f"ratio_{phase}")))
    table = out[0].join(out[1], on=keys).join(out[2], on=keys)
    return table.sort(keys)


def gradient_findings(table: pl.DataFrame, settings: dict[str, list[float]]) -> list[str]:
    """The DGL claim in numbers, for joint training: (1) |g_uni| > |g_multi| on every encoder;
    (2) the suppression 1 - |g_multi|/|g_uni| is strongest on the hardest modality's encoder."""
    joint = table.filter(pl.col("variant") == "joint")
    out = []
    for phase in ("middle", "end"):
        below = int((joint[f"ratio_{phase}"] < 1).sum())
        out.append(f"- Joint training, {phase} of training: |g_multi| < |g_uni| on {below} of "
                   f"{joint.height} (setting, overlap, encoder) cells; ratio range "
                   f"{joint[f'ratio_{phase}'].min():.3f} to {joint[f'ratio_{phase}'].max():.3f}.")
        hits, total = 0, 0
        for (setting, _), grp in joint.group_by(["setting", "overlap"], maintain_order=True):
            lowest = grp.sort(f"ratio_{phase}")["modality"][0]
            hits += int(lowest in _hardest(settings[setting]))
            total += 1
        out.append(f"- Joint training, {phase}: the most suppressed encoder is the hardest "
                   f"modality's in {hits} of {total} (setting, overlap) cells.")
    return out


def gradient_markdown(table: pl.DataFrame, settings: dict[str, list[float]]) -> str:
    lines = ["# Gradient norms per encoder", "",
             "|g_multi|: norm of the gradient of the multimodal loss with respect to the "
             "encoder's parameters; |g_uni|: of that modality's unimodal loss (shared head, other "
             "features zeroed); both measured on training minibatches whatever the method uses "
             "to update the encoder; mean over seeds, ratio = |g_multi| / |g_uni| averaged per "
             "seed. The DGL argument predicts ratio < 1 under joint training, smallest on the "
             "hard modality's encoder.", "", "## Findings", "",
             *gradient_findings(table, settings), "",
             "| setting | ρ | method | modality | start: multi / uni (ratio) | middle | end |",
             "|---|---|---|---|---|---|---|"]
    for r in table.iter_rows(named=True):
        cells = [f"{r[f'g_multi_{p}']:.4f} / {r[f'g_uni_{p}']:.4f} ({r[f'ratio_{p}']:.3f})"
                 for p in ("start", "middle", "end")]
        lines.append(f"| {r['setting']} | {r['overlap']:g} | {r['variant']} | {r['modality']} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
