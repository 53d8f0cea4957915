"""The theory study of Huang et al. (NeurIPS 2021) on data with exact ground truth.

For a model trained on the modality set M from m samples, with frozen encoder g_M:

    eta(g_M)        = inf_h r(h o g_M) - r(h* o g*)      (latent quality; r(h* o g*) is the
                      Bayes risk of all K modalities),
    gamma_S(M, N)   = eta(g_M) - eta(g_N),
    Theorem 1:      r(h_M o g_M) - r(h_N o g_N) <= gamma_S(M, N) + O(1/sqrt(m)),
    Theorem 2:      gamma_S(M, N) <= 0 for N subset of M once m is large enough,
    linear case:    gamma_S(M, N) <= 0 always for linear encoders and heads.

inf_h is estimated by the ERM head on the training features (least squares for MSE, logistic
regression to convergence for cross-entropy) and r(.) by the risk on a large fresh sample from
the generator, so estimation noise of the risk is small beside the effects measured.
Training sets are the first round(f * n_max) rows of each seed's dataset (nested across
fractions f); 20 % of them (at least one row) are held out for early stopping.
"""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import polars as pl
import torch

from dgl.evaluate import model_features
from dgl.probes import fit_probe, probe_metrics
from dgl.runs import (ClassificationSpec, RunSpec, diverged_models, evaluate_regression_cell,
                      load_classification_stack, metrics_frame, train_cell,
                      train_classification_stack)
from dgl.trainer import TrainConfig
from synth.datasets import Splits
from synth.subsets import format_subset, parse_subset


def fraction_data(x: np.ndarray, y: np.ndarray, n_max: int, n_eval: int, fraction: float,
                  val_fraction: float) -> tuple[np.ndarray, np.ndarray, Splits]:
    """The rows a fraction trains on (the first round(f n_max), nested) followed by the fresh
    evaluation rows; x [S, n_max + n_eval, D]."""
    n = max(2, int(round(fraction * n_max)))
    rows = np.r_[0:n, n_max : n_max + n_eval]
    n_val = max(1, int(round(val_fraction * n)))
    splits = Splits(n_train=n, n_test=n_eval, val_fraction=n_val / n)
    return x[:, rows], y[:, rows], splits


def train_fraction(task: str, x: np.ndarray, y: np.ndarray, seeds: list[int], splits: Splits,
                   dims: tuple[int, ...], subsets: list[str], encoder: str, width: int,
                   cfg: TrainConfig, n_classes: int, tag: str, device: str = "cpu") -> dict:
    """One stack: every (seed, subset) model trained on this fraction's rows."""
    if task == "regression":
        specs = [RunSpec(s, sub) for s in seeds for sub in subsets]
        return train_cell(x, y, seeds, splits, dims, specs, encoder, width, cfg, device)
    specs = [ClassificationSpec(dataset=i, overlap=0.0, seed=s, subset=sub)
             for i, s in enumerate(seeds) for sub in subsets]
    return train_classification_stack(x, y, splits, dims, specs, n_classes, "joint", {}, encoder,
                                      width, "concat", cfg, tag, device)


def evaluate_fraction(task: str, bundle: dict, x: np.ndarray, y: np.ndarray, seeds: list[int],
                      splits: Splits, law, truth: pl.DataFrame | None = None) -> pl.DataFrame:
    """Per model: risk of the trained model and of the refit head on its frozen features, on
    the fresh rows (MSE or CE; accuracy too for classification), with exact Bayes values and
    eta = refit risk - Bayes risk of all modalities."""
    k = law.n_modalities
    if task == "regression":
        m = evaluate_regression_cell(bundle, x, y, seeds, splits, law)
        return m.select(
            "seed", "subset", "n_modalities", "status",
            pl.col("test_mse_model").alias("model_risk"),
            pl.col("test_mse_refit").alias("refit_risk"),
            pl.col("bayes_mse_subset").alias("bayes_risk_subset"),
            pl.col("bayes_mse_all").alias("bayes_risk_all"),
            pl.col("eta"),
            pl.lit(None, dtype=pl.Float64).alias("model_acc"),
            pl.lit(None, dtype=pl.Float64).alias("refit_acc"),
            pl.lit(None, dtype=pl.Float64).alias("bayes_acc_subset"),
            pl.lit(None, dtype=pl.Float64).alias("bayes_acc_all"),
        )
    model, method, extra = load_classification_stack(bundle)
    specs = [ClassificationSpec(**s) for s in bundle["specs"]]
    group = [s.dataset for s in specs]
    xt = torch.as_tensor(x[group], dtype=torch.float32)
    yt = torch.as_tensor(y[group], dtype=torch.long)
    fit, test = splits.fit_rows(), splits.test_rows()
    with torch.no_grad():
        logits = method.logits(model, extra, xt[:, test])
    ce = torch.nn.functional.cross_entropy(logits.flatten(0, 1), yt[:, test].flatten(),
                                           reduction="none").view(len(specs), -1).mean(1)
    acc = (logits.argmax(-1) == yt[:, test]).double().mean(1)
    feats = model_features(model, xt)
    full = "+".join(str(i + 1) for i in range(k))
    bayes = {r["subset"]: r for r in truth.iter_rows(named=True)}
    rows = []
    by_subset: dict[str, list[int]] = {}
    diverged = diverged_models(bundle)
    for e, s in enumerate(specs):
        if diverged[e]:
            rows.append({"seed": s.seed, "subset": s.subset,
                         "n_modalities": len(parse_subset(s.subset, k)), "status": "diverged",
                         "bayes_risk_subset": bayes[s.subset]["bayes_cross_entropy"],
                         "bayes_risk_all": bayes[full]["bayes_cross_entropy"],
                         "bayes_acc_subset": bayes[s.subset]["bayes_accuracy"],
                         "bayes_acc_all": bayes[full]["bayes_accuracy"]})
        else:
            by_subset.setdefault(s.subset, []).append(e)
    for subset, members in by_subset.items():
        z = torch.as_tensor(np.stack([feats[e] for e in members]))
        probe = fit_probe(z[:, fit], yt[members][:, fit], model.out_dim)
        p_acc, p_ce = probe_metrics(z[:, test], yt[members][:, test], probe)
        for j, e in enumerate(members):
            rows.append({
                "seed": specs[e].seed, "subset": subset,
                "n_modalities": len(parse_subset(subset, k)), "status": "ok",
                "model_risk": float(ce[e]), "refit_risk": float(p_ce[j]),
                "bayes_risk_subset": bayes[subset]["bayes_cross_entropy"],
                "bayes_risk_all": bayes[full]["bayes_cross_entropy"],
                "eta": float(p_ce[j]) - bayes[full]["bayes_cross_entropy"],
                "model_acc": float(acc[e]), "refit_acc": float(p_acc[j]),
                "bayes_acc_subset": bayes[subset]["bayes_accuracy"],
                "bayes_acc_all": bayes[full]["bayes_accuracy"],
            })
    return metrics_frame(rows, THEORY_COLUMNS)


#: Columns of the per-model metrics of the theory study, in order (regression and
#: classification alike).
THEORY_COLUMNS = ("seed", "subset", "n_modalities", "status", "model_risk", "refit_risk",
                  "bayes_risk_subset", "bayes_risk_all", "eta", "model_acc", "refit_acc",
                  "bayes_acc_subset", "bayes_acc_all")


def nested_pairs(n_modalities: int) -> list[tuple[str, str]]:
    """(M, N) with N a subset of M differing by one modality, as text ('1+2', '1')."""
    out = []
    for size in range(2, n_modalities + 1):
        for m in combinations(range(n_modalities), size):
            for drop in m:
                n = tuple(i for i in m if i != drop)
                out.append((format_subset(m), format_subset(n)))
    return out


def _interval(values: list[float]) -> tuple[float, float, float]:
    """Mean and 95 % normal interval across seeds."""
    v = np.asarray(values, dtype=float)
    mean = float(v.mean())
    half = 1.96 * float(v.std(ddof=1)) / math.sqrt(len(v)) if len(v) > 1 else float("nan")
    return mean, mean - half, mean + half


def gamma_table(metrics: pl.DataFrame, n_modalities: int) -> pl.DataFrame:
    """gamma_S(M, N) = eta(g_M) - eta(g_N) per seed (same data), mean and 95 % interval across
    seeds, for every nested pair, with the measured population-risk difference of the trained
    models (Theorem 1's left side) and the slack = difference - gamma."""
    keys = ["task", "encoder", "overlap", "fraction", "n_train"]
    rows = []
    for key, grp in metrics.group_by(keys, maintain_order=True):
        by = {(r["seed"], r["subset"]): r for r in grp.iter_rows(named=True)}
        all_seeds = sorted({s for s, _ in by})
        for m, n in nested_pairs(n_modalities):
            if not all((s, m) in by and (s, n) in by for s in all_seeds):
                continue
            # a seed whose M or N model diverged is left out of the pair, and counted
            seeds = [s for s in all_seeds
                     if by[(s, m)].get("status", "ok") == by[(s, n)].get("status", "ok") == "ok"]
            if len(seeds) < 2:
                rows.append({**dict(zip(keys, key)), "M": m, "N": n, "verdict": "diverged",
                             "n_seeds": len(seeds), "n_diverged": len(all_seeds) - len(seeds)})
                continue
            gam = [by[(s, m)]["eta"] - by[(s, n)]["eta"] for s in seeds]
            diff = [by[(s, m)]["model_risk"] - by[(s, n)]["model_risk"] for s in seeds]
            g_mean, g_lo, g_hi = _interval(gam)
            d_mean, d_lo, d_hi = _interval(diff)
            # float round-off: two latents spanning the same space (identical modalities, linear
            # encoders) give etas equal to ~1e-12; closer than this counts as equal
            tol = 1e-9 * max(1.0, abs(by[(seeds[0], n)]["eta"]))
            rows.append({**dict(zip(keys, key)), "M": m, "N": n,
                         "gamma": g_mean, "gamma_lo": g_lo, "gamma_hi": g_hi,
                         "risk_diff": d_mean, "risk_diff_lo": d_lo, "risk_diff_hi": d_hi,
                         "slack": d_mean - g_mean,
                         "verdict": ("gamma<=0 beyond noise" if g_hi < -tol else
                                     "gamma>0 beyond noise" if g_lo > tol else "within noise"),
                         "n_seeds": len(seeds), "n_diverged": len(all_seeds) - len(seeds)})
    return pl.DataFrame(rows, infer_schema_length=None)


def crossover_table(metrics: pl.DataFrame, n_modalities: int) -> pl.DataFrame:
    """For each (task, encoder, overlap) and nested pair: the smallest fraction at which the M
    model's population risk is below the N model's beyond noise (95 % interval of the per-seed
    difference below 0), or 'never in range'."""
    rows = []
    for key, grp in metrics.group_by(["task", "encoder", "overlap"], maintain_order=True):
        for m, n in nested_pairs(n_modalities):
            found = None
            for frac in sorted(grp["fraction"].unique()):
                sel = grp.filter(pl.col("fraction") == frac)
                ok = sel.filter(pl.col("model_risk").is_not_null())  # diverged: left out
                a = {r["seed"]: r["model_risk"] for r in ok.filter(pl.col("subset") == m).iter_rows(named=True)}
                b = {r["seed"]: r["model_risk"] for r in ok.filter(pl.col("subset") == n).iter_rows(named=True)}
                seeds = sorted(set(a) & set(b))
                if len(seeds) < 2:
                    continue
                mean, lo, hi = _interval([a[s] - b[s] for s in seeds])
                if hi < 0:
                    found = (frac, mean, lo, hi)
                    break
            rows.append({"task": key[0], "encoder": key[1], "overlap": key[2], "M": m, "N": n,
                         "crossover_fraction": found[0] if found else None,
                         "risk_diff_at_crossover": found[1] if found else None,
                         "status": f"M better from fraction {found[0]:g}" if found else "never in range"})
    return pl.DataFrame(rows)


def slack_fit(gamma: pl.DataFrame) -> pl.DataFrame:
    """Per (task, encoder, overlap, pair): least-squares fit slack ~ c / sqrt(m) over the
    fractions (m = training rows), with the fit's R^2."""
    rows = []
    for key, grp in gamma.group_by(["task", "encoder", "overlap", "M", "N"], maintain_order=True):
        m = grp["n_train"].to_numpy().astype(float)
        s = grp["slack"].to_numpy()
        basis = 1 / np.sqrt(m)
        c = float(basis @ s / (basis @ basis))
        resid = s - c * basis
        tot = float(((s - s.mean()) ** 2).sum())
        rows.append({"task": key[0], "encoder": key[1], "overlap": key[2], "M": key[3],
                     "N": key[4], "c": c, "r2": 1 - float((resid**2).sum()) / tot if tot > 0 else None,
                     "slack_at_largest_m": float(s[np.argmax(m)])})
    return pl.DataFrame(rows)
