"""The exact ground truth of the generators: Bayes accuracy, cross-entropy and mutual
information of every subset, and two PIDs, for the classification generator over
overlap x synergy x SNR settings; exact PIDs of the regression generator with label noise.
Everything is derived from the laws (:mod:`synth.ground_truth`), never from trained models.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from dgl.report.markdown import grid_table, number
from synth.generators import LawSpec
from synth.ground_truth import TruthJob, regression_pid, truth_point


@dataclass(frozen=True)
class GroundTruth:
    """The study's config (``ground_truth`` in config.yaml). ``seed`` and ``max_samples`` are
    the Monte Carlo settings of every study's classification ground truth."""

    seed: int
    halfwidth: float
    max_samples: int
    classification_law: LawSpec
    snr_settings: Mapping[str, tuple[float, ...]]
    overlaps: tuple[float, ...]
    synergy: tuple[float, ...]
    regression_law: LawSpec
    regression_overlaps: tuple[float, ...]

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> GroundTruth:
        cls_part, reg_part = section["classification"], section["regression"]
        return cls(seed=int(section["seed"]), halfwidth=float(section["halfwidth"]),
                   max_samples=int(section["max_samples"]),
                   classification_law=LawSpec.from_config(cls_part["law"]),
                   snr_settings={k: tuple(v) for k, v in cls_part["snr_settings"].items()},
                   overlaps=tuple(float(o) for o in cls_part["overlaps"]),
                   synergy=tuple(float(s) for s in cls_part["synergy"]),
                   regression_law=LawSpec.from_config(reg_part["law"]),
                   regression_overlaps=tuple(float(o) for o in reg_part["overlaps"]))

    def truth_job(self, name: str, points: list, halfwidth: float) -> TruthJob:
        """A job of classification points with this study's Monte Carlo settings."""
        return TruthJob(name, tuple(points), self.seed, halfwidth, self.max_samples)

    def truth_jobs(self) -> list[TruthJob]:
        """One job per SNR setting: every overlap x synergy strength."""
        return [self.truth_job(f"ground_truth_{setting}", [
            truth_point(setting, self.classification_law, snr=list(snr), overlap=rho,
                        synergy=syn) for rho in self.overlaps for syn in self.synergy],
            self.halfwidth) for setting, snr in self.snr_settings.items()]

    def regression_pid(self) -> pl.DataFrame:
        """Exact MMI and I_min PIDs of the regression generator at every overlap."""
        law = self.regression_law
        return regression_pid(law.generator, dict(law.params), list(self.regression_overlaps))


def _atoms(r: dict) -> str:
    """R / U_a / U_b / S of a PID row, in nats."""
    return " / ".join(number(r[k], 3) for k in ("redundancy", "unique_a", "unique_b", "synergy"))


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
        lines += grid_table(grp.sort("synergy_strength", "n_modalities", "subset"),
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
        lines += grid_table(grp.sort("group_a", "synergy_strength", "pid"),
                             ["group_a", "group_b", "synergy_strength", "pid"], _atoms)
        lines.append("")
    lines += ["## Regression generator `huang_overlap` with label noise (R / U_a / U_b / S)", "",
              "Exact (Gaussian). For a scalar Gaussian target I_min coincides with MMI.", ""]
    reg = regression.filter(pl.col("group_a").is_in(["1"]) & pl.col("group_b").is_in(["2", "2+3+4", "2+3"]))
    lines += grid_table(reg, ["group_a", "group_b", "pid"], _atoms)
    return "\n".join(lines) + "\n"


