"""The imbalance study: every training method on latent_classes data with one easy and one
hard modality (and K = 4), at several overlaps; fused accuracy, linear probes of every
encoder and the gradient norms behind the DGL argument.

Cells: one per SNR setting; each trains every method variant (every point of its sweep) as
one stack over all (overlap, seed) datasets. Swept options are chosen on validation accuracy
once, into the sweep table (:func:`sweep_table`); evaluation fits probes for the chosen
variants only and the tables show them.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import torch

from dgl.report.markdown import number
from dgl.studies.common import (Cell, DatasetSpec, diverged_count, mean_std, metrics_frame,
                                model_config, model_counts, ok_count, overlap_name,
                                splits_from_config, train_from_config, training_columns,
                                with_status)
from dgl.studies.latent import EtaConfig, classification_head_risks
from dgl.train.losses import accuracy_per_model, ce_per_model
from dgl.train.probes import fit_probe, probe_metrics
from dgl.train.stack import CellSpec, StackPlan, TrainedStack, model_inputs, restore, train_plan
from dgl.train.trainer import TrainConfig
from synth.datasets import Datasets, Splits
from synth.generators import LawSpec
from synth.ground_truth import TruthJob, truth_point

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VariantPoint:
    """One trained configuration of a method variant: a point of its sweep. ``tag`` names
    it in tables and seeds (the variant's name followed by every swept option's value)."""

    variant: str
    method: str
    options: Mapping[str, Any]
    tag: str

    @property
    def options_json(self) -> str:
        return options_json(self.options)


def options_json(options: Mapping[str, Any]) -> str:
    """Method options as the tables print them (sorted JSON; a method's noise seed left out)."""
    return json.dumps({k: v for k, v in sorted(options.items()) if k != "seed"}, sort_keys=True)


def expand_variants(variants: Mapping[str, Mapping[str, Any]]) -> list[VariantPoint]:
    """Config variants -> one point per trained configuration: every combination of a
    variant's ``sweep`` values (keys in sorted order) over its fixed ``options``."""
    out = []
    for name, spec in variants.items():
        sweep = spec.get("sweep", {}) or {}
        keys = sorted(sweep)
        for values in itertools.product(*(sweep[k] for k in keys)) if keys else [()]:
            options = dict(spec.get("options", {}) or {}, **dict(zip(keys, values)))
            tag = name + "".join(f"_{k}{v:g}" if isinstance(v, (int, float)) else f"_{k}{v}"
                                 for k, v in zip(keys, values))
            out.append(VariantPoint(name, spec["method"], options, tag))
    return out


@dataclass(frozen=True)
class Imbalance:
    """The study's config (``imbalance`` in config.yaml)."""

    law: LawSpec
    settings: Mapping[str, tuple[float, ...]]
    overlaps: tuple[float, ...]
    seeds: tuple[int, ...]
    splits: Splits
    encoder: str
    model: Mapping[str, Any]
    truth_halfwidth: float
    train: TrainConfig
    eta: EtaConfig
    variants: tuple[VariantPoint, ...]

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> Imbalance:
        (encoder,) = section["encoders"]
        return cls(law=LawSpec.from_config(section["law"]),
                   settings={k: tuple(v) for k, v in section["settings"].items()},
                   overlaps=tuple(float(o) for o in section["overlaps"]),
                   seeds=tuple(section["seeds"]), splits=splits_from_config(section["splits"]),
                   encoder=encoder, model=dict(section["model"]),
                   truth_halfwidth=float(section["truth_halfwidth"]),
                   train=train_from_config(section["train"]),
                   eta=EtaConfig.from_config(section["eta"]),
                   variants=tuple(expand_variants(section["variants"])))

    def setting_law(self, setting: str) -> LawSpec:
        """The generator at one SNR setting (overlap still free)."""
        return LawSpec(self.law.generator, {**self.law.params, "snr": list(self.settings[setting])})

    def datasets(self) -> list[DatasetSpec]:
        """One data file per (setting, overlap): every seed's training and test rows."""
        return [DatasetSpec(_dataset(setting, rho), self.setting_law(setting), rho,
                            self.seeds, self.splits.n_total)
                for setting in self.settings for rho in self.overlaps]

    def cells(self) -> list[ImbalanceCell]:
        return [ImbalanceCell(setting, tuple(_dataset(setting, rho) for rho in self.overlaps),
                              self, setting) for setting in self.settings]

    def truth_jobs(self, seed: int, max_samples: int) -> list[TruthJob]:
        """Exact Bayes values of every subset, per setting, at every overlap."""
        return [TruthJob(f"imbalance_{setting}", tuple(
            truth_point(setting, self.setting_law(setting), overlap=rho)
            for rho in self.overlaps), seed, self.truth_halfwidth, max_samples)
            for setting in self.settings]


def _dataset(setting: str, overlap: float) -> str:
    """The data file of one SNR setting at one overlap."""
    return f"{setting}_{overlap_name(overlap)}"


@dataclass(frozen=True)
class ImbalanceCell(Cell):
    """One training job: every variant point of one SNR setting, every (overlap, seed)."""

    study: Imbalance
    setting: str

    def plan(self, point: VariantPoint) -> StackPlan:
        """The stack of one variant point: every (overlap, seed) dataset, on all modalities,
        or one model per modality for ``unimodal``."""
        study = self.study
        law = study.setting_law(self.setting).build(overlap=study.overlaps[0])
        k = law.n_modalities
        subsets = ([str(m + 1) for m in range(k)] if point.method == "unimodal"
                   else ["+".join(str(m + 1) for m in range(k))])
        specs = tuple(CellSpec(rho, seed, sub) for rho in study.overlaps for seed in study.seeds
                      for sub in subsets)
        model = model_config(study.model, law.modality_dims, study.encoder, law.n_classes)
        return StackPlan(task="classification", model=model, specs=specs, splits=study.splits,
                         train=study.train, tag=point.tag, method=point.method,
                         options=point.options, variant=point.variant)

    def train(self, datasets: Datasets, device: str) -> list[TrainedStack]:
        stacks = []
        for i, point in enumerate(self.study.variants, 1):
            stacks.append(train_plan(self.plan(point), datasets, device))
            log.info("[%d/%d] %s: %d models, %.1fs", i, len(self.study.variants), point.tag,
                     len(stacks[-1].plan.specs), stacks[-1].train_seconds)
        return stacks

    def evaluate_fused(self, datasets: Datasets, stacks: list[TrainedStack]) -> pl.DataFrame:
        """Fused validation and test metrics of every variant point (no probes): what the
        sweep table chooses from."""
        return pl.concat([self._frame(s, stack_metrics(s, datasets, set())) for s in stacks],
                         how="diagonal_relaxed")

    def evaluate(self, datasets: Datasets, stacks: list[TrainedStack], sweep: pl.DataFrame
                 ) -> pl.DataFrame:
        """Per-(model, modality) metrics, with linear probes for the variant points the sweep
        table chose."""
        chosen = sweep.filter(pl.col("chosen") & (pl.col("setting") == self.setting))
        keep = set(chosen.select("tag", "overlap").iter_rows())
        metrics = []
        for stack in stacks:
            probe_models = {e for e, spec in enumerate(stack.plan.specs)
                            if (stack.plan.tag, spec.overlap) in keep}
            metrics.append(self._frame(stack, stack_metrics(stack, datasets, probe_models,
                                                            self.laws(), self.study.eta)))
            log.info("evaluated %s (%d models probed)", stack.plan.tag, len(probe_models))
        return pl.concat(metrics, how="diagonal_relaxed")

    def gradients(self, stacks: list[TrainedStack]) -> pl.DataFrame:
        """The gradient-norm traces of every variant point (:func:`gradient_frame`)."""
        frames = []
        for stack in stacks:
            grads = gradient_frame(stack)
            if grads.height:
                frames.append(grads.with_columns(pl.lit(stack.plan.variant).alias("variant")))
        return pl.concat(frames).with_columns(pl.lit(self.setting).alias("setting"))

    def laws(self) -> dict[float, Any]:
        """The law of every overlap of this setting."""
        law = self.study.setting_law(self.setting)
        return {rho: law.build(overlap=rho) for rho in self.study.overlaps}

    def _frame(self, stack: TrainedStack, frame: pl.DataFrame) -> pl.DataFrame:
        return frame.with_columns(pl.lit(stack.plan.variant).alias("variant"),
                                  pl.lit(stack.device).alias("device"),
                                  pl.lit(self.setting).alias("setting"))


#: Columns of the per-(model, modality) metrics of a classification stack, in order.
CLASSIFICATION_COLUMNS = ("tag", "method", "options", "overlap", "seed", "subset", "modality",
                          "status", "converged", "val_acc", "val_ce", "test_acc", "test_ce",
                          "probe_acc", "probe_ce", "probe_check", "probe_acc_train",
                          "probe_ce_train", "best_step", "best_epoch", "steps_run", "epochs_run")


def _chunked(fn, x: torch.Tensor, chunk: int = 8192) -> list:
    """``fn`` on row chunks of x [E, n, D]."""
    return [fn(x[:, i : i + chunk]) for i in range(0, x.shape[1], chunk)]


def _probes(feats: torch.Tensor, y: torch.Tensor, models: list[int], stack: TrainedStack
            ) -> tuple[dict[int, float], dict[int, float]]:
    """Test accuracy and CE of linear probes fitted on the training rows of ``feats`` [E, n,
    h], one stack of probes for ``models``."""
    if not models:
        return {}, {}
    splits, idx = stack.plan.splits, torch.tensor(models)
    fit, test = splits.fit_rows(), splits.test_rows()
    probe = fit_probe(feats[idx][:, fit], y[idx][:, fit], stack.plan.model.out_dim)
    acc, ce = probe_metrics(feats[idx][:, test], y[idx][:, test], probe)
    return dict(zip(models, acc.tolist())), dict(zip(models, ce.tolist()))


@torch.no_grad()
def stack_metrics(stack: TrainedStack, datasets: Datasets, probe_models: set[int] | None = None,
                  laws: Mapping[float, Any] | None = None, eta: EtaConfig | None = None
                  ) -> pl.DataFrame:
    """One row per (model, modality in its subset): fused validation and test accuracy / CE of
    the method's predictions, whether the model converged, and for the models in
    ``probe_models`` (default: all; the others get empty probe columns) two linear probes of
    that modality's frozen encoder, both scored on the test rows: the best head
    (:func:`dgl.studies.latent.classification_head_risks`: fitted on fresh rows of ``laws``,
    the law of each overlap; its cross-entropy minus the modality's Bayes CE is the
    per-modality eta) and the probe fitted on the model's training rows (``_train``)."""
    restored, plan = restore(stack), stack.plan
    group, x = model_inputs(stack, datasets)
    xt, yt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(datasets.y[group],
                                                                       dtype=torch.long)
    val, test = plan.splits.val_rows(), plan.splits.test_rows()
    logits = torch.cat(_chunked(restored.logits, xt), dim=1)
    feats = None if probe_models == set() else [  # frozen features: for the probes only
        torch.cat(parts, dim=1) for parts in zip(*_chunked(restored.model.encode, xt))]
    fused = {name: metric(logits[:, rows], yt[:, rows]).numpy()
             for name, metric, rows in (("val_acc", accuracy_per_model, val),
                                        ("val_ce", _ce64, val),
                                        ("test_acc", accuracy_per_model, test),
                                        ("test_ce", _ce64, test))}
    masks, diverged = restored.model.masks, torch.tensor(stack.diverged)
    rows = []
    for k in range(masks.shape[1]):
        for e in (masks[:, k] & diverged).nonzero().squeeze(1).tolist():
            rows.append(_row(stack, e, k))
        users = (masks[:, k] & ~diverged).nonzero().squeeze(1).tolist()
        probed = [e for e in users if probe_models is None or e in probe_models]
        train_acc, train_ce = _probes(feats[k], yt, probed, stack) if probed else ({}, {})
        heads = (classification_head_risks(stack, restored, laws, datasets, eta, modality=k,
                                           only=probed) if probed else [None] * len(plan.specs))
        for e in users:
            best = heads[e]
            rows.append(_row(stack, e, k, **{n: float(v[e]) for n, v in fused.items()},
                             probe_acc=best.acc if best else None,
                             probe_ce=best.risk if best else None,
                             probe_check=best.check if best else None,
                             probe_acc_train=train_acc.get(e), probe_ce_train=train_ce.get(e)))
    return metrics_frame(rows, CLASSIFICATION_COLUMNS)


def _ce64(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-model cross-entropy averaged in float64 (the evaluation tables' precision)."""
    return ce_per_model(logits, y, torch.float64)


def _row(stack: TrainedStack, e: int, k: int, **values: Any) -> dict[str, Any]:
    """The metrics row of model e and modality k: its keys, how it trained, then ``values``."""
    plan, spec = stack.plan, stack.plan.specs[e]
    row = {"tag": plan.tag, "method": plan.method,
           "options": options_json(plan.options),
           "overlap": spec.overlap, "seed": spec.seed, "subset": spec.subset, "modality": k + 1}
    return {**row, **training_columns(stack, e), **values}


def gradient_frame(stack: TrainedStack) -> pl.DataFrame:
    """The gradient-norm trace of a stack: one row per (probe step, model, modality)."""
    if stack.grad_multi is None:
        return pl.DataFrame()
    plan = stack.plan
    gm, gu = stack.grad_multi.numpy(), stack.grad_uni.numpy()  # [P, K, E]
    total = max(stack.grad_steps[-1], 1)
    rows = []
    for p, step in enumerate(stack.grad_steps):
        for k in range(gm.shape[1]):
            for e, spec in enumerate(plan.specs):
                if (gu[p, k, e] == 0 and gm[p, k, e] == 0) or np.isnan(gu[p, k, e]):
                    continue  # modality not in the subset, or the model had stopped
                rows.append({"tag": plan.tag, "method": plan.method,
                             "overlap": spec.overlap, "seed": spec.seed, "subset": spec.subset,
                             "modality": k + 1, "step": step, "progress": step / total,
                             "g_multi": float(gm[p, k, e]), "g_uni": float(gu[p, k, e])})
    return pl.DataFrame(rows)


# --- tables -----------------------------------------------------------------------------



def _model_rows(metrics: pl.DataFrame) -> pl.DataFrame:
    """One row per trained model (metrics has one per model and modality)."""
    return metrics.unique(["setting", "overlap", "tag", "seed", "subset"], keep="first",
                          maintain_order=True)


def sweep_table(metrics: pl.DataFrame) -> pl.DataFrame:
    """Every variant point per (setting, overlap): mean and std of the fused validation
    accuracy over seeds, mean test accuracy, models trained and diverged, and ``chosen``: the
    point with the highest mean validation accuracy of its variant (never the test set)."""
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
    return sweep.join(best.with_columns(pl.lit(True).alias("chosen")),
                      on=["setting", "overlap", "variant", "tag"], how="left").with_columns(
        pl.col("chosen").fill_null(False))


def chosen_rows(metrics: pl.DataFrame, sweep: pl.DataFrame) -> pl.DataFrame:
    """The metrics of the variant points the sweep table chose."""
    keys = ["setting", "overlap", "variant", "tag"]
    return with_status(metrics).join(sweep.filter(pl.col("chosen")).select(keys), on=keys,
                                     how="semi")


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
        *mean_std("test_acc", "fused_test_acc"), *mean_std("probe_acc", "probe_acc"),
        pl.col("probe_ce").mean().alias("probe_ce"),
        pl.col("probe_acc_train").mean().alias("probe_acc_train"),
        pl.col("tag").first().alias("chosen_tag"), *model_counts(),
        (pl.col("probe_check") == "violated").sum().alias("n_probe_violations"))
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
             "(`imbalance_sweep.csv`). Cells: mean ± std (sample std over seeds; every "
             "method and overlap of a seed shares its latent draws, and the methods of a seed "
             "its data). *probe*: accuracy of the best linear head on that modality's frozen "
             "encoder, fitted on fresh rows of the law and scored on the test rows; *Bayes*: "
             "exact accuracy of that modality alone; *eta*: probe cross-entropy minus the "
             "exact Bayes cross-entropy of the modality (nats); *degree*: largest minus "
             "smallest probe accuracy. Models still improving at the end of the budget: "
             f"{int(table['n_unconverged'].sum())} (model, modality) rows; probes above the "
             f"model's own head on that modality beyond noise: "
             f"{int(table['n_probe_violations'].sum())}.", "", "## Findings", "",
             *imbalance_findings(table, settings), ""]
    for (setting, rho), grp in table.group_by(["setting", "overlap"], maintain_order=True):
        snr = ",".join(f"{v:g}" for v in settings[setting])
        lines += [f"## `{setting}` (SNR {snr}), ρ = {rho:g} — Bayes accuracy of all "
                  f"modalities {grp['bayes_acc_all'][0]:.4f}", "",
                  "| method | fused test acc | per modality: probe acc (Bayes) · eta | degree | options |",
                  "|---|---|---|---|---|"]
        for row, r in grp.group_by("row", maintain_order=True):
            mods = " <br> ".join(
                f"m{m['modality']}: {m['probe_acc']:.4f} ± {m['probe_acc_std'] or 0:.4f} "
                f"({m['bayes_acc_modality']:.4f}) · {number(m['eta_ce'], 3)}"
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
