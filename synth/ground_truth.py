"""Tables of exact ground truth, derived from generator laws (never from trained models)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from synth.generators import LawSpec, make_law
from synth.subsets import Subset, all_subsets, format_subset

log = logging.getLogger(__name__)


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


def pid_pairs(n_modalities: int) -> list[tuple[Subset, Subset]]:
    """The pairs of modality groups (A, B) whose PID is tabulated: every pair of single
    modalities, and every split of all K modalities into two groups (A holds the lowest
    modality of the split, so each split appears once)."""
    singles = [((i,), (j,)) for i in range(n_modalities) for j in range(i + 1, n_modalities)]
    everything = set(range(n_modalities))
    splits = []
    for a in all_subsets(n_modalities):
        b = tuple(sorted(everything - set(a)))
        if b and 0 in a and (len(a) > 1 or len(b) > 1):
            splits.append((a, b))
    return singles + splits


def classification_truth(
    generator: str, params: dict[str, Any], seed: int, halfwidth: float, max_samples: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Exact ground truth of one classification generator setting: a frame with one row per
    subset (Bayes accuracy with its 95 % half-width, Bayes cross-entropy H(y|x_S), I(x_S; y),
    in nats) and a frame with one row per (pair, PID definition)."""
    from synth.information import classification_information, pid_imin_classification, pid_mmi

    law = make_law(generator, **params)
    subsets = all_subsets(law.n_modalities)
    infos = classification_information(law, subsets, seed, halfwidth=halfwidth,
                                       max_samples=max_samples)
    by_subset = {i.subset: i for i in infos}
    subset_rows = [{
        "subset": format_subset(i.subset),
        "n_modalities": len(i.subset),
        "bayes_accuracy": i.bayes_accuracy,
        "bayes_accuracy_hw95": i.bayes_accuracy_hw,
        "bayes_cross_entropy": i.cross_entropy,
        "bayes_cross_entropy_hw95": i.cross_entropy_hw,
        "mutual_information": i.mutual_information,
        "mutual_information_hw95": i.mutual_information_hw,
        "n_mc_samples": i.n_samples,
    } for i in infos]
    pid_rows = []
    for a, b in pid_pairs(law.n_modalities):
        ia, ib, iab = by_subset[a], by_subset[b], by_subset[tuple(sorted(a + b))]
        for name, atoms in (
            ("mmi", pid_mmi(ia.mutual_information, ib.mutual_information, iab.mutual_information)),
            ("imin", pid_imin_classification(ia, ib, iab, law.priors)),
        ):
            pid_rows.append({"group_a": format_subset(a), "group_b": format_subset(b),
                             "pid": name, **atoms})
    return pl.DataFrame(subset_rows), pl.DataFrame(pid_rows)


def regression_pid(generator: str, params: dict[str, Any], overlaps: Sequence[float]) -> pl.DataFrame:
    """MMI and I_min PIDs (nats) of a linear-Gaussian regression generator for every pair of
    :func:`pid_pairs`, at every overlap; exact (I_min by quadrature over y)."""
    from synth.information import gaussian_mutual_information, pid_imin_regression, pid_mmi

    rows = []
    for rho in overlaps:
        law = make_law(generator, **params, overlap=float(rho))
        for a, b in pid_pairs(law.n_modalities):
            mi = [gaussian_mutual_information(law, s) for s in (a, b, tuple(sorted(a + b)))]
            for name, atoms in (("mmi", pid_mmi(*mi)), ("imin", pid_imin_regression(law, a, b))):
                rows.append({"overlap": float(rho), "group_a": format_subset(a),
                             "group_b": format_subset(b), "pid": name, **atoms})
    return pl.DataFrame(rows)


@dataclass(frozen=True)
class TruthPoint:
    """One classification law whose ground truth a study needs, with the keys its tables
    find it by: the study's name for the setting, the SNR list as text, the overlap and the
    synergy strength."""

    setting: str
    law: LawSpec  # every knob (overlap and synergy included)

    def keys(self) -> dict[str, Any]:
        params = self.law.params
        return {"setting": self.setting, "snr": ",".join(f"{v:g}" for v in params["snr"]),
                "overlap": float(params["overlap"]),
                "synergy_strength": float(params.get("synergy", 0.0))}


@dataclass(frozen=True)
class TruthJob:
    """The classification ground truth of several laws, computed in one job: Monte Carlo
    seed, the target 95 % half-width of every Bayes accuracy, and the cap on the sample."""

    name: str
    points: tuple[TruthPoint, ...]
    seed: int
    halfwidth: float
    max_samples: int


def truth_job_frames(job: TruthJob) -> tuple[pl.DataFrame, pl.DataFrame]:
    """:func:`classification_truth` of every point of a job, each row led by the point's keys
    (setting, snr, overlap, synergy_strength): the per-subset frame and the PID frame."""
    subset_frames, pid_frames = [], []
    for point in job.points:
        t0 = time.perf_counter()
        subsets, pid = classification_truth(point.law.generator, dict(point.law.params),
                                            job.seed, job.halfwidth, job.max_samples)
        keys = [pl.lit(v).alias(k) for k, v in point.keys().items()]
        subset_frames.append(subsets.select(keys + subsets.columns))
        pid_frames.append(pid.select(keys + pid.columns))
        log.info("%s: %s, %d MC samples, %.1fs", job.name, point.keys(),
                 subsets["n_mc_samples"][0], time.perf_counter() - t0)
    return pl.concat(subset_frames), pl.concat(pid_frames)


def truth_point(setting: str, law: LawSpec, **knobs: Any) -> TruthPoint:
    """A point at ``law`` with ``knobs`` (overlap, snr, synergy) fixed into its params."""
    return TruthPoint(setting, LawSpec(law.generator, {**law.params, **knobs}))
