"""Huang et al. (NeurIPS 2021), Table 4: their simulated regression data, every subset of
modalities, linear and ReLU encoders, the latent-quality protocol (a least-squares head refit
on the frozen encoder), beside the exact Bayes MSE and the published values.

Cells: one per (overlap, encoder); each trains every (seed, subset) model as one stack.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from dgl.report.markdown import pm
from dgl.studies.common import (
    Cell,
    mean_std,
    model_config,
    model_counts,
    overlap_name,
    splits_from_config,
    train_from_config,
    with_status,
)
from dgl.studies.latent import EtaConfig
from dgl.studies.regression import regression_metrics
from dgl.train.stack import CellSpec, StackPlan, TrainedStack, train_plan
from dgl.train.trainer import TrainConfig
from synth.datasets import Datasets, DatasetSpec, Splits
from synth.generators import LawSpec


@dataclass(frozen=True)
class Huang2021:
    """The study's config (``huang2021`` in config.yaml)."""

    law: LawSpec
    overlaps: tuple[float, ...]
    seeds: tuple[int, ...]
    splits: Splits
    subsets: tuple[str, ...]
    encoders: tuple[str, ...]
    model: Mapping[str, Any]
    train: TrainConfig
    eta: EtaConfig

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> Huang2021:
        return cls(law=LawSpec.from_config(section["law"]),
                   overlaps=tuple(float(o) for o in section["overlaps"]),
                   seeds=tuple(section["seeds"]), splits=splits_from_config(section["splits"]),
                   subsets=tuple(section["subsets"]), encoders=tuple(section["encoders"]),
                   model=dict(section["model"]), train=train_from_config(section["train"]),
                   eta=EtaConfig.from_config(section["eta"]))

    def datasets(self) -> list[DatasetSpec]:
        """One data file per overlap: every seed's training and test rows."""
        return [DatasetSpec(overlap_name(rho), self.law, rho, self.seeds, self.splits.n_total)
                for rho in self.overlaps]

    def cells(self) -> list[Huang2021Cell]:
        return [Huang2021Cell(f"{overlap_name(rho)}_{enc}", (overlap_name(rho),), self, rho, enc)
                for rho in self.overlaps for enc in self.encoders]

    def setting(self) -> dict[str, int]:
        """What decides whether the paper's published values apply."""
        law = self.law.build(overlap=self.overlaps[0])
        return {"n_modalities": law.n_modalities, "dim": law.modality_dims[0],
                "n_train": self.splits.n_train, "n_test": self.splits.n_test}


@dataclass(frozen=True)
class Huang2021Cell(Cell):
    """One training job: every (seed, subset) model at one overlap with one encoder kind."""

    study: Huang2021
    overlap: float
    encoder: str

    def plan(self) -> StackPlan:
        study = self.study
        dims = study.law.build(overlap=self.overlap).modality_dims
        specs = tuple(CellSpec(self.overlap, seed, subset)
                      for seed in study.seeds for subset in study.subsets)
        return StackPlan(task="regression", model=model_config(study.model, dims, self.encoder, 1),
                         specs=specs, splits=study.splits, train=study.train, tag=self.encoder)

    def expected_rows(self) -> int:
        """Per-model rows of this cell's metrics: one per model of its stack."""
        return len(self.plan().specs)

    def train(self, datasets: Datasets, device: str) -> list[TrainedStack]:
        return [train_plan(self.plan(), datasets, device)]

    def evaluate(self, datasets: Datasets, stacks: list[TrainedStack], *,
                 device: str | None = None) -> pl.DataFrame:
        """Per-model metrics (:func:`dgl.studies.regression.regression_metrics`), with the
        cell's overlap and the training device. ``device`` is accepted as every study's
        evaluation takes it; regression heads are closed forms in numpy float64, on the CPU."""
        law = self.study.law.build(overlap=self.overlap)
        return pl.concat([regression_metrics(s, datasets, law, self.study.eta).with_columns(
            pl.lit(self.overlap).alias("overlap"), pl.lit(s.device).alias("device"))
            for s in stacks])



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

    ``metrics``: rows of :meth:`Huang2021Cell.evaluate`.
    ``paper``: columns subset, overlap, paper_mse, paper_std, or None when the study is not
    in the paper's setting (the paper columns are then left empty).
    """
    keys = ["subset", "n_modalities", "overlap"]
    agg = with_status(metrics).group_by(keys + ["encoder"]).agg(
        pl.col("test_mse_refit").mean().alias("mean"),
        pl.col("test_mse_refit").std().alias("std"),
        *mean_std("test_mse_model", "model_mean", "model_std"),
        *mean_std("head_risk", "head_mean", "head_std"),
        *model_counts(), (pl.col("eta_check") == "violated").sum().alias("n_eta_violations"),
        pl.col("bayes_mse_subset").first().alias("bayes_mse"),
        pl.col("ols_expected_mse").drop_nulls().first().alias("ols_expected_mse"),
    )
    wide = None
    for enc in sorted(agg["encoder"].unique()):
        part = agg.filter(pl.col("encoder") == enc).drop("encoder")
        part = part.rename({c: f"{enc}_{c}" for c in [
            "mean", "std", "model_mean", "model_std", "head_mean", "head_std", "n_seeds",
            "n_diverged", "n_unconverged", "n_eta_violations"]})
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


def _encoder_part(r: dict, enc: str) -> str:
    """One encoder's numbers in a Table 4 cell: the refit MSE (the paper's protocol), the
    best head's risk (eta's infimum), and the models diverged, unconverged or failing the
    eta check."""
    notes = [f"{r[f'{enc}_{c}']} {label}" for c, label in (
        ("n_diverged", "diverged"), ("n_unconverged", "not converged"),
        ("n_eta_violations", "eta check failed")) if r[f"{enc}_{c}"]]
    return (f"{enc}: **{pm(r[f'{enc}_mean'], r[f'{enc}_std'])}**, best head "
            f"{pm(r[f'{enc}_head_mean'], None)}" + (f" ({', '.join(notes)})" if notes else ""))


def _legend(table: pl.DataFrame, encoders: list[str]) -> list[str]:
    n_seeds = sorted({int(v) for enc in encoders for v in table[f"{enc}_n_seeds"].drop_nulls()})
    legend = [
        "",
        "Test MSE of y = sum of all coordinates, Huang et al. (NeurIPS 2021) Table 4 protocol: "
        "the trained encoder is frozen and the least-squares linear head is refit on the "
        f"training features; mean ± std over {', '.join(map(str, n_seeds))} seeds. Each seed "
        "draws its own data, initialisation and minibatch order; every overlap of a seed "
        "shares its latent draws (common random numbers), so a row's cells move together. "
        "**linear** / **relu**: encoder kind. **best head**: inf_h r(h o g), exact for linear "
        "encoders, else fitted on a large fresh sample (config `eta`; eta = this - "
        "r*([K]) = this, as r*([K]) = 0). **Bayes**: exact r*(S) from the generator's law. "
        "**LS**: expected test "
        "MSE of least squares on the subset's inputs, r*(S)(1 + p/(n - p - 1)), p = rank "
        "Cov(x_S), n = training rows. **paper**: the published value.",
    ]
    if table["paper_mse"].null_count() == table.height:
        legend.append("This study is not in the paper's setting "
                      f"({HUANG2021_SETTING}): published values are not compared.")
    for column, words in (("n_diverged", "diverged (training loss NaN/inf): counted in their "
                                         "cells as 'diverged', never averaged in"),
                          ("n_unconverged", "not converged (hit the step cap before their "
                                            "patience ran out, or never improved on their "
                                            "initial validation loss): averaged in, and "
                                            "counted"),
                          ("n_eta_violations", "with an eta estimate above their own risk "
                                               "beyond noise")):
        total = sum(int(v) for enc in encoders for v in table[f"{enc}_{column}"].drop_nulls())
        legend.append(f"Models {words}: {total}.")
    if "linear_within_paper_tol" in table.columns:
        legend.append(
            f"Linear encoder within the paper's value ± max(3 std, 5 %) (± {PAPER_ABS_TOL_ZERO:g} "
            f"for zero cells): {table['linear_within_paper_tol'].sum()} of {table.height} cells.")
    return legend


def huang_table4_markdown(table: pl.DataFrame) -> str:
    """Rows: subsets; columns: overlaps (as in the paper); each cell lists the measured and
    exact numbers named in the legend."""
    encoders = [c.removesuffix("_n_seeds") for c in table.columns if c.endswith("_n_seeds")]
    overlaps = sorted(table["overlap"].unique(), reverse=True)
    subsets = table.select("subset", "n_modalities").unique().sort("n_modalities", "subset")
    header = "| Modalities | " + " | ".join(f"overlap {o:g}" for o in overlaps) + " |"
    lines = [header, "|---|" + "---|" * len(overlaps)]
    for subset in subsets["subset"]:
        cells = []
        for o in overlaps:
            r = table.filter((pl.col("subset") == subset) & (pl.col("overlap") == o)).row(
                0, named=True)
            parts = [_encoder_part(r, enc) for enc in encoders]
            parts += [f"Bayes: {r['bayes_mse']:.2f}", f"LS: {r['ols_expected_mse']:.2f}"]
            if r["paper_mse"] is not None:
                parts.append(f"paper: {pm(r['paper_mse'], r['paper_std'])}")
            if r.get("linear_within_paper_tol") is False:
                parts.append("(linear outside paper tolerance)")
            cells.append("<br>".join(parts))
        lines.append(f"| {subset.replace('+', ', ')} | " + " | ".join(cells) + " |")
    return "\n".join(lines + _legend(table, encoders)) + "\n"


def huang_findings(table: pl.DataFrame) -> list[str]:
    """Sentences computed from Table 4: the linear encoder against the paper, every encoder's
    unconverged models and eta-check violations, and the ReLU cells at overlap 1 (Bayes 0),
    which a converged model brings near 0 (below 1.5) or which are flagged as not converged."""
    if "linear_within_paper_tol" in table.columns:
        out = [f"- Linear encoder within the paper's value ± max(3 std, 5 %): "
               f"{int(table['linear_within_paper_tol'].sum())} of {table.height} cells."]
    else:
        out = ["- Not in the paper's setting: published values are not compared."]
    encoders = [c.removesuffix("_n_seeds") for c in table.columns if c.endswith("_n_seeds")]
    for enc in encoders:
        unconverged = int(table[f"{enc}_n_unconverged"].sum())
        violations = int(table[f"{enc}_n_eta_violations"].sum())
        out.append(f"- {enc} encoder: {unconverged} model(s) not converged (at the step cap "
                   "before their patience ran out, or never improved on their initial "
                   f"validation loss; flagged), {violations} eta estimate(s) above the model's own risk beyond "
                   f"noise.")
    if "relu" in encoders:
        top = table.filter(pl.col("overlap") == table["overlap"].max())
        low = top.filter(pl.col("relu_mean") < 1.5).height
        flagged = top.filter((pl.col("relu_mean") >= 1.5) & (pl.col("relu_n_unconverged") > 0))
        out.append(f"- ReLU encoder at overlap {top['overlap'][0]:g} (Bayes MSE 0): {low} of "
                   f"{top.height} cells below 1.5; {flagged.height} above it with models flagged "
                   f"not converged; {top.height - low - flagged.height} above it and converged.")
    return out
