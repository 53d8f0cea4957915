"""The main study: every training method x overlap x sample size, in regimes where joint
training under-trains the weak modality's encoder (and a control where it does not).

Data: ``latent_classes`` (exact Bayes values) at per-regime knobs, e.g. a strong modality that
nearly separates the classes early and a weak one whose signal hides among many nuisance
dimensions (Du et al., ICML 2023; Huang et al., ICML 2022: joint training stops learning the
weak modality once the strong one fits the labels). Every (regime, overlap) data file holds
every seed's n_max training rows (stratified: every prefix of k C rows has k rows per class)
and the test rows; a fraction f trains on the first round(f n_max) of them.

Cells: one per (regime, fraction). A cell trains every method variant (every point of its
sweep) as one stack over all (overlap, seed) datasets; every stack shares ``pair_tag``, so a
seed's models start from the same parameters and see their rows in the same order whatever
the method, subset or fraction (paired comparisons). Evaluation chooses each variant's swept
options per (overlap) on the mean validation accuracy over seeds (never the test rows; ties:
the first point in sweep order) and measures, for the chosen models and for a *random*
encoder (the shared initial parameters, untrained; the same at every fraction, so measured in
the largest fraction's cell only and shown at every fraction), the best linear head on each modality's
frozen encoder and on the fused latent (:mod:`dgl.studies.latent`: fitted on fresh rows of
the law, the model's own head a candidate): per-modality and fused latent quality
eta = inf_h r(h o g) - r*(all modalities) (Huang et al. 2021), in nats.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import torch

from dgl.report.markdown import number, pm, signed
from dgl.studies.common import (
    Cell,
    fraction_rows,
    metrics_frame,
    model_config,
    overlap_name,
    splits_from_config,
    train_from_config,
    training_columns,
)
from dgl.studies.latent import EtaConfig, FreshRows, HeadRisk, classification_head_risks
from dgl.studies.stats import t_interval
from dgl.train.losses import accuracy_per_model, ce_per_model
from dgl.train.models import StackedLateFusion
from dgl.train.stack import CellSpec, StackPlan, TrainedStack, restore, stack_logits, train_plans
from dgl.train.trainer import TrainConfig
from synth.datasets import Datasets, DatasetSpec, Splits
from synth.generators import LawSpec
from synth.ground_truth import TruthJob, truth_point

log = logging.getLogger(__name__)

#: The seed streams every stack of the study shares (paired initialisation and order).
PAIR_TAG = "main"


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
class MainStudy:
    """The study's config (``main`` in config.yaml)."""

    law: LawSpec
    regimes: Mapping[str, Mapping[str, Any]]
    overlaps: tuple[float, ...]
    fractions: tuple[float, ...]
    seeds: tuple[int, ...]
    splits: Splits
    encoder: str
    model: Mapping[str, Any]
    truth_halfwidth: float
    train: TrainConfig
    eta: EtaConfig
    variants: tuple[VariantPoint, ...]

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> MainStudy:
        (encoder,) = section["encoders"]
        return cls(law=LawSpec.from_config(section["law"]),
                   regimes={k: dict(v) for k, v in section["regimes"].items()},
                   overlaps=tuple(float(o) for o in section["overlaps"]),
                   fractions=tuple(float(f) for f in section["fractions"]),
                   seeds=tuple(section["seeds"]), splits=splits_from_config(section["splits"]),
                   encoder=encoder, model=dict(section["model"]),
                   truth_halfwidth=float(section["truth_halfwidth"]),
                   train=train_from_config(section["train"]),
                   eta=EtaConfig.from_config(section["eta"]),
                   variants=tuple(expand_variants(section["variants"])))

    def regime_law(self, regime: str) -> LawSpec:
        """The generator at one regime's knobs (overlap still free)."""
        return LawSpec(self.law.generator, {**self.law.params, **self.regimes[regime]})

    def datasets(self) -> list[DatasetSpec]:
        """One data file per (regime, overlap): every seed's n_max training rows (stratified)
        and its test rows."""
        return [DatasetSpec(_dataset(regime, rho), self.regime_law(regime), rho, self.seeds,
                            self.splits.n_total, stratify=self.splits.n_train)
                for regime in self.regimes for rho in self.overlaps]

    def cells(self) -> list[MainCell]:
        return [MainCell(f"{regime}_f{fraction:g}",
                         tuple(_dataset(regime, rho) for rho in self.overlaps), self, regime,
                         fraction)
                for regime in self.regimes for fraction in self.fractions]

    def truth_jobs(self, seed: int, max_samples: int) -> list[TruthJob]:
        """Exact Bayes values of every subset, per regime, at every overlap."""
        return [TruthJob(truth_job_name(regime), tuple(
            truth_point(regime, self.regime_law(regime), overlap=rho) for rho in self.overlaps),
            seed, self.truth_halfwidth, max_samples) for regime in self.regimes]


def truth_job_name(regime: str) -> str:
    return f"main_{regime}"


def _dataset(regime: str, overlap: float) -> str:
    return f"{regime}_{overlap_name(overlap)}"


@dataclass(frozen=True)
class MainCell(Cell):
    """One training job: every variant point of one regime at one fraction, every (overlap,
    seed)."""

    study: MainStudy
    regime: str
    fraction: float

    def rows(self) -> tuple[np.ndarray, Splits]:
        """The rows this fraction trains on, then the test rows, and their split."""
        return fraction_rows(self.study.splits, self.fraction)

    def laws(self) -> dict[float, Any]:
        law = self.study.regime_law(self.regime)
        return {rho: law.build(overlap=rho) for rho in self.study.overlaps}

    def plan(self, point: VariantPoint) -> StackPlan:
        """The stack of one variant point: every (overlap, seed), on all modalities, or one
        model per modality for ``unimodal``; gradient norms are recorded at the largest
        fraction only."""
        study, law = self.study, self.laws()[self.study.overlaps[0]]
        k = law.n_modalities
        subsets = ([str(m + 1) for m in range(k)] if point.method == "unimodal"
                   else ["+".join(str(m + 1) for m in range(k))])
        specs = tuple(CellSpec(rho, seed, sub) for rho in study.overlaps for seed in study.seeds
                      for sub in subsets)
        train = study.train
        if self.fraction != max(study.fractions):
            train = dataclasses.replace(train, grad_probe_every=0)
        return StackPlan(task="classification",
                         model=model_config(study.model, law.modality_dims, study.encoder,
                                            law.n_classes),
                         specs=specs, splits=self.rows()[1], train=train, tag=point.tag,
                         method=point.method, options=point.options, variant=point.variant,
                         fraction=self.fraction, pair_tag=PAIR_TAG)

    def expected_rows(self) -> int:
        """Rows of this cell's metrics: every model's parts (its fused latent and each
        modality's encoder, one part for a single-modality model), and in the largest
        fraction's cell the random encoders (the joint stack's models, every part)."""
        counts = {point.tag: sum(len(model_parts(mask)) for mask in self.plan(point).masks())
                  for point in self.study.variants}
        joint = next(p for p in self.study.variants if p.method == "joint")  # as evaluate
        return sum(counts.values()) + (counts[joint.tag] if self.holds_random() else 0)

    def holds_random(self) -> bool:
        """Whether this cell measures the random encoders: the largest fraction's. They do
        not depend on the fraction: the same initial parameters, fresh rows and test rows."""
        return self.fraction == max(self.study.fractions)

    def train(self, datasets: Datasets, device: str) -> list[TrainedStack]:
        """Every variant point's stack; the points of one method's sweep train as one stack
        (:func:`~dgl.train.stack.train_plans`)."""
        data = datasets.rows(self.rows()[0])
        stacks = train_plans([self.plan(point) for point in self.study.variants], data, device)
        for stack in stacks:
            log.info("%s at fraction %g: %d models, %d steps, %.1fs (its share)", stack.plan.tag,
                     self.fraction, len(stack.plan.specs), stack.steps_run, stack.train_seconds)
        return stacks

    def evaluate(self, datasets: Datasets, stacks: list[TrainedStack], *,
                 device: torch.device | str | None = None) -> pl.DataFrame:
        """One row per (model, part): part 0 is the model's fused latent (every modality it
        sees), part k its modality k's encoder; for every variant point, the fused metrics,
        whether the point was chosen, and for the chosen models and the random encoders the
        best head on each part (see the module docstring), its probes fitted on ``device``
        (default: the CPU)."""
        data = datasets.rows(self.rows()[0])
        fused = {stack.plan.tag: fused_metrics(stack, data) for stack in stacks}
        chosen = choose_points(stacks, fused)
        laws, frames = self.laws(), []
        fresh = FreshRows(laws, data.keys, self.study.eta)  # drawn once, read by every probe
        for stack in stacks:
            keep = {e for e, s in enumerate(stack.plan.specs)
                    if (stack.plan.tag, s.overlap) in chosen}
            frames.append(part_metrics(stack, data, fresh, fused[stack.plan.tag], keep, device))
            log.info("evaluated %s (%d chosen models probed)", stack.plan.tag, len(keep))
        if self.holds_random():
            random = random_stack(next(s for s in stacks if s.plan.method == "joint"))
            frames.append(part_metrics(random, data, fresh, fused_metrics(random, data),
                                       set(range(len(random.plan.specs))), device))
        return pl.concat(frames, how="diagonal_relaxed").with_columns(
            pl.lit(self.regime).alias("regime"), pl.lit(self.fraction).alias("fraction"),
            pl.lit(self.rows()[1].n_train).alias("n_train"))

    def gradients(self, stacks: list[TrainedStack]) -> pl.DataFrame:
        """Gradient-norm traces of every variant point (recorded at the largest fraction)."""
        frames = [gradient_frame(s).with_columns(pl.lit(s.plan.variant).alias("variant"))
                  for s in stacks if s.grad_multi is not None]
        frames = [f for f in frames if f.height]
        if not frames:
            return pl.DataFrame()
        return pl.concat(frames).with_columns(pl.lit(self.regime).alias("regime"))


def random_stack(stack: TrainedStack) -> TrainedStack:
    """The stack's models at their initial parameters (untrained; the initialisation every
    method of a seed shares), labelled variant 'random'."""
    plan = dataclasses.replace(stack.plan, method="joint", options={}, variant="random",
                               tag="random")
    model = StackedLateFusion(plan.model, plan.masks(), stack.init_seeds)
    n = len(plan.specs)
    return dataclasses.replace(stack, plan=plan, state=model.state_dict(), extra_state=None,
                               diverged=(False,) * n, converged=(True,) * n,
                               best_epoch=(0,) * n, best_step=(0,) * n, epochs_run=0,
                               steps_run=0, grad_multi=None, grad_uni=None, grad_steps=())


@torch.no_grad()
def fused_metrics(stack: TrainedStack, data: Datasets) -> dict[str, np.ndarray]:
    """Validation and test accuracy / cross-entropy (nats) of the method's predictions, per
    model: four [E] arrays."""
    restored, splits, out = restore(stack), stack.plan.splits, {}
    for part, rows in (("val", splits.val_rows()), ("test", splits.test_rows())):
        group, logits = stack_logits(restored, stack, data, rows)  # only these rows
        y = torch.as_tensor(data.y[:, rows][group], dtype=torch.long)
        out[f"{part}_acc"] = accuracy_per_model(logits, y).numpy()
        out[f"{part}_ce"] = ce_per_model(logits, y, torch.float64).numpy()
    return out


def choose_points(stacks: list[TrainedStack], fused: Mapping[str, Mapping[str, np.ndarray]]
                  ) -> set[tuple[str, float]]:
    """(tag, overlap) of the chosen point of every variant at every overlap: the highest mean
    validation accuracy over the seeds' models that did not diverge (ties: the first point in
    sweep order)."""
    best: dict[tuple[str, float], tuple[float, str]] = {}
    for stack in stacks:
        plan, val = stack.plan, fused[stack.plan.tag]["val_acc"]
        for rho in sorted({s.overlap for s in plan.specs}):
            idx = [e for e, s in enumerate(plan.specs) if s.overlap == rho
                   and not stack.diverged[e]]
            score = float(np.mean(val[idx])) if idx else -np.inf
            key = (plan.variant, rho)
            if key not in best or score > best[key][0]:
                best[key] = (score, plan.tag)
    return {(tag, rho) for (_, rho), (_, tag) in best.items()}


#: Columns of the per-(model, part) metrics, in order.
COLUMNS = ("variant", "tag", "method", "options", "overlap", "seed", "subset", "part",
           "chosen", "status", "converged", "val_acc", "val_ce", "test_acc", "test_ce",
           "head_acc", "head_ce", "head_method", "head_check", "best_step", "steps_run",
           "device")


def model_parts(mask: torch.Tensor) -> list[int]:
    """The parts of a model that sees the modalities of ``mask`` [K]: 0 (its fused latent,
    only with more than one modality), then k + 1 for each modality k it sees."""
    parts = [k + 1 for k in mask.nonzero().squeeze(1).tolist()]
    return ([0] if len(parts) > 1 else []) + parts


def part_metrics(stack: TrainedStack, data: Datasets, fresh: FreshRows,
                 fused: Mapping[str, np.ndarray], probe: set[int],
                 device: torch.device | str | None = None) -> pl.DataFrame:
    """Rows of :data:`COLUMNS` for every model of a stack and every part it has (0: the fused
    latent, not for single-modality models; k: modality k's encoder); the best-head columns
    (fitted on ``fresh``'s rows of the laws it holds, on ``device``) for the models in
    ``probe`` only."""
    restored, plan = restore(stack), stack.plan
    masks = restored.model.masks
    heads: dict[int, list[HeadRisk | None]] = {}
    for part in range(masks.shape[1] + 1):
        modality = None if part == 0 else part - 1
        users = [e for e in probe if (part == 0 and int(masks[e].sum()) > 1)
                 or (part > 0 and bool(masks[e, part - 1]))]
        heads[part] = (classification_head_risks(stack, restored, fresh.laws, data, fresh.cfg,
                                                 modality=modality, only=users, fresh=fresh,
                                                 device=device)
                       if users
                       else [None] * len(plan.specs))
    rows = [_row(stack, e, part, e in probe, fused, heads[part][e])
            for e in range(len(plan.specs)) for part in model_parts(masks[e])]
    return metrics_frame(rows, COLUMNS)


def _row(stack: TrainedStack, e: int, part: int, chosen: bool,
         fused: Mapping[str, np.ndarray], head: HeadRisk | None) -> dict[str, Any]:
    plan, spec = stack.plan, stack.plan.specs[e]
    row = {"variant": plan.variant, "tag": plan.tag, "method": plan.method,
           "options": options_json(plan.options), "overlap": spec.overlap, "seed": spec.seed,
           "subset": spec.subset, "part": part, "chosen": chosen,
           **training_columns(stack, e), "device": stack.device}
    if stack.diverged[e]:
        return {k: v for k, v in row.items() if k not in ("best_step", "steps_run")}
    row.update({name: float(v[e]) for name, v in fused.items()})
    if head is not None:
        row.update(head_acc=head.acc, head_ce=head.risk, head_method=head.method,
                   head_check=head.check)
    return row


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

#: The paired comparisons of the tables: (name, A, B): A - B per seed.
COMPARISONS = (("dgl - joint", "dgl", "joint"), ("dgl_pid - dgl", "dgl_pid", "dgl"),
               ("dgl_pid - joint", "dgl_pid", "joint"),
               ("best fused - best unimodal", "best_fused", "best_unimodal"))
KEYS = ["regime", "overlap", "fraction", "n_train"]


def chosen_models(metrics: pl.DataFrame) -> pl.DataFrame:
    """The chosen models' rows and the random encoders' (measured once per regime, repeated
    at every fraction of it), with ``row``: the variant, or ``unimodal_m<k>`` for a unimodal
    model on modality k."""
    is_random = pl.col("variant") == "random"
    fractions = metrics.filter(~is_random).select("regime", "fraction", "n_train").unique()
    random = metrics.filter(is_random).drop("fraction", "n_train").join(fractions, on="regime")
    metrics = pl.concat([metrics.filter(~is_random), random.select(metrics.columns)])
    return metrics.filter(pl.col("chosen")).with_columns(
        pl.when(pl.col("method") == "unimodal")
        .then(pl.concat_str([pl.lit("unimodal_m"), pl.col("subset")]))
        .otherwise(pl.col("variant")).alias("row"))


def weak_modalities(truth: pl.DataFrame) -> dict[str, int]:
    """Per regime, the modality with the lowest exact Bayes accuracy alone, averaged over
    overlaps (the weak one)."""
    single = truth.filter(~pl.col("subset").str.contains(r"\+"))
    mean = single.group_by(["setting", "subset"]).agg(pl.col("bayes_accuracy").mean())
    worst = mean.sort(["setting", "bayes_accuracy", "subset"]).group_by("setting").first()
    return {r["setting"]: int(r["subset"]) for r in worst.iter_rows(named=True)}


def with_truth(rows: pl.DataFrame, truth: pl.DataFrame) -> pl.DataFrame:
    """Adds the exact Bayes values each row is measured against: ``bayes_ce_all`` and
    ``bayes_acc_all`` (every modality; eta = head CE - bayes_ce_all), and ``bayes_ce_part`` /
    ``bayes_acc_part`` (the part's own modalities: modality k alone, or the model's subset)."""
    t = truth.select(pl.col("setting").alias("regime"), "overlap", "subset",
                     pl.col("bayes_accuracy").alias("bayes_acc_part"),
                     pl.col("bayes_cross_entropy").alias("bayes_ce_part"))
    full = (t.with_columns(pl.col("subset").str.count_matches(r"\+").alias("plus"))
            .sort("plus", descending=True).group_by(["regime", "overlap"]).first()
            .select("regime", "overlap", pl.col("bayes_acc_part").alias("bayes_acc_all"),
                    pl.col("bayes_ce_part").alias("bayes_ce_all")))
    part_subset = (pl.when(pl.col("part") == 0).then(pl.col("subset"))
                   .otherwise(pl.col("part").cast(pl.Utf8)))
    return (rows.with_columns(part_subset.alias("part_subset"))
            .join(t.rename({"subset": "part_subset"}), on=["regime", "overlap", "part_subset"],
                  how="left")
            .join(full, on=["regime", "overlap"], how="left")
            .with_columns((pl.col("head_ce") - pl.col("bayes_ce_all")).alias("eta"))
            .drop("part_subset"))


def _model_rows(rows: pl.DataFrame) -> pl.DataFrame:
    """One row per model: its first part (the fused latent, or a unimodal model's modality),
    which carries the model's fused metrics."""
    return rows.filter(pl.col("part") == pl.col("part").min().over([*KEYS, "row", "seed"]))


def paired(a: pl.DataFrame, b: pl.DataFrame, value: str) -> pl.DataFrame:
    """Per (regime, overlap, fraction): mean of A - B over the seeds both have a number for,
    with its 95 % t interval (n - 1 degrees of freedom) and n; a cell with fewer than two
    such seeds (their models diverged) keeps its row, with n and no numbers."""
    both = a.select(*KEYS, "seed", pl.col(value).alias("a")).join(
        b.select(*KEYS, "seed", pl.col(value).alias("b")), on=[*KEYS, "seed"])
    rows = []
    for key, grp in both.group_by(KEYS, maintain_order=True):
        diff = (grp["a"] - grp["b"]).drop_nulls().to_numpy()
        mean, lo, hi = t_interval(diff) if len(diff) >= 2 else (None, None, None)
        rows.append({**dict(zip(KEYS, key)), "diff": mean, "lo": lo, "hi": hi,
                     "n": len(diff)})
    schema = {**{k: a.schema[k] for k in KEYS}, "diff": pl.Float64, "lo": pl.Float64,
              "hi": pl.Float64, "n": pl.Int64}
    return pl.DataFrame(rows, schema=schema)


def laziness_table(chosen: pl.DataFrame, truth: pl.DataFrame) -> pl.DataFrame:
    """Per (regime, overlap, fraction, modality k): the probe accuracy (best head on encoder
    k, test rows) of a random encoder, of the unimodal-trained one and of the jointly trained
    one; headroom = unimodal - random and laziness gap = unimodal - joint, paired over seeds
    (the same data and initialisation), with 95 % t intervals."""
    out = []
    for k in sorted(chosen.filter(pl.col("part") > 0)["part"].unique().to_list()):
        part = chosen.filter(pl.col("part") == k)
        rand = part.filter(pl.col("row") == "random")
        uni = part.filter(pl.col("row") == f"unimodal_m{k}")
        joint = part.filter(pl.col("row") == "joint")
        if not (rand.height and uni.height and joint.height):
            continue  # no unimodal model on this modality: nothing to compare
        means = [f.group_by(KEYS).agg(pl.col("head_acc").mean().alias(name))
                 for f, name in ((rand, "random_acc"), (uni, "unimodal_acc"),
                                 (joint, "joint_acc"))]
        head = paired(uni, rand, "head_acc").rename(
            {"diff": "headroom", "lo": "headroom_lo", "hi": "headroom_hi"}).drop("n")
        gap = paired(uni, joint, "head_acc").rename(
            {"diff": "gap", "lo": "gap_lo", "hi": "gap_hi", "n": "n_pairs"})
        table = means[0].join(means[1], on=KEYS).join(means[2], on=KEYS).join(
            head, on=KEYS, how="left").join(gap, on=KEYS, how="left").with_columns(
            pl.lit(k).alias("modality"))  # left: a cell whose models all diverged stays
        out.append(table)
    t = truth.filter(~pl.col("subset").str.contains(r"\+")).select(
        pl.col("setting").alias("regime"), "overlap",
        pl.col("subset").cast(pl.Int64).alias("modality"),
        pl.col("bayes_accuracy").alias("bayes_acc_modality"))
    return (pl.concat(out).join(t, on=["regime", "overlap", "modality"], how="left")
            .sort([*KEYS, "modality"]))


def methods_table(chosen: pl.DataFrame, truth: pl.DataFrame) -> pl.DataFrame:
    """Per (regime, overlap, fraction, row): fused test accuracy and CE (mean, sample std over
    seeds), the weak modality's probe accuracy and eta, the fused latent's eta, the exact
    Bayes accuracy of all modalities, and the counts: models (seeds), diverged, still
    improving at the cap, eta estimates above the model's own risk beyond noise."""
    weak = weak_modalities(truth)
    rows = with_truth(chosen, truth)
    base = _model_rows(rows).group_by([*KEYS, "row"]).agg(
        pl.col("test_acc").mean().alias("fused_acc"),
        pl.col("test_acc").std().alias("fused_acc_std"),
        pl.col("test_ce").mean().alias("fused_ce"),
        pl.col("bayes_acc_all").first(), pl.col("tag").first().alias("chosen_tag"),
        (pl.col("status") == "ok").sum().alias("n_seeds"),
        (pl.col("status") == "diverged").sum().alias("n_diverged"),
        ((pl.col("status") == "ok") & ~pl.col("converged")).sum().alias("n_unconverged"))
    weak_rows = rows.filter(pl.col("part") == pl.col("regime").replace_strict(weak))
    weak_agg = weak_rows.group_by([*KEYS, "row"]).agg(
        pl.col("head_acc").mean().alias("weak_probe_acc"),
        pl.col("eta").mean().alias("weak_eta"), pl.col("eta").std().alias("weak_eta_std"))
    fused_eta = rows.filter(pl.col("part") == 0).group_by([*KEYS, "row"]).agg(
        pl.col("eta").mean().alias("fused_eta"))
    checks = rows.group_by([*KEYS, "row"]).agg(
        (pl.col("head_check") == "violated").sum().alias("n_eta_violations"))
    return (base.join(weak_agg, on=[*KEYS, "row"], how="left")
            .join(fused_eta, on=[*KEYS, "row"], how="left")
            .join(checks, on=[*KEYS, "row"], how="left").sort([*KEYS, "row"]))


def _best(chosen: pl.DataFrame, rows: list[str], name: str) -> pl.DataFrame:
    """Per (regime, overlap, fraction), the models of the row among ``rows`` with the highest
    mean validation accuracy (never the test rows), relabelled ``name``."""
    models = _model_rows(chosen.filter(pl.col("row").is_in(rows)))
    score = models.group_by([*KEYS, "row"]).agg(pl.col("val_acc").mean().alias("score"))
    top = score.sort([*KEYS, "score", "row"], descending=[False] * 4 + [True, False]).group_by(
        KEYS).first().select(*KEYS, "row")
    return models.join(top, on=[*KEYS, "row"]).with_columns(pl.lit(name).alias("row"))


def paired_table(chosen: pl.DataFrame, truth: pl.DataFrame) -> pl.DataFrame:
    """The paired differences of :data:`COMPARISONS` per (regime, overlap, fraction), on the
    fused test accuracy and (except best fused - best unimodal) on the weak modality's eta,
    with 95 % t intervals over seeds and a verdict: 'A better' / 'B better' when the interval
    excludes 0 (higher accuracy, lower eta is better), else 'within noise'."""
    weak = weak_modalities(truth)
    rows = with_truth(chosen, truth)
    fused_rows = sorted({r for r in rows["row"].unique().to_list()
                         if r not in ("random",) and not r.startswith("unimodal")})
    uni_rows = sorted(r for r in rows["row"].unique().to_list() if r.startswith("unimodal"))
    models = _model_rows(rows)
    extra = pl.concat([_best(rows, fused_rows, "best_fused"),
                       _best(rows, uni_rows, "best_unimodal")], how="diagonal_relaxed")
    models = pl.concat([models, extra], how="diagonal_relaxed")
    weak_eta = rows.filter(pl.col("part") == pl.col("regime").replace_strict(weak))
    out = []
    for name, a, b in COMPARISONS:
        measures = [("fused_acc", models, "test_acc", 1.0)]
        if not a.startswith("best"):
            measures.append(("weak_eta", weak_eta, "eta", -1.0))
        for measure, frame, column, sign in measures:
            diff = paired(frame.filter(pl.col("row") == a), frame.filter(pl.col("row") == b),
                          column)
            if not diff.height:
                continue
            # the interval of sign x (A - B): above 0, A is better; below 0, B is
            low = pl.min_horizontal(pl.col("lo") * sign, pl.col("hi") * sign)
            high = pl.max_horizontal(pl.col("lo") * sign, pl.col("hi") * sign)
            verdict = (pl.when(pl.col("n") < 2).then(pl.lit("diverged"))
                       .when(low > 0).then(pl.lit("A better"))
                       .when(high < 0).then(pl.lit("B better"))
                       .otherwise(pl.lit("within noise")))
            out.append(diff.with_columns(pl.lit(name).alias("comparison"),
                                         pl.lit(measure).alias("measure"),
                                         verdict.alias("verdict")))
    return pl.concat(out).sort(["comparison", "measure", *KEYS]) if out else pl.DataFrame()


def pid_prediction(chosen: pl.DataFrame, truth: pl.DataFrame) -> pl.DataFrame:
    """The DGL+PID hypothesis as a test. Prediction: the weak modality's unique information
    matters most at low overlap, so D(rho) = eta_weak(dgl_pid) - eta_weak(dgl) is lowest
    (most negative) at the smallest overlap and rises toward the largest. Per (regime,
    fraction): D at both ends and the paired difference D(rho_min) - D(rho_max) over seeds
    (every overlap of a seed shares its latent draws) with its 95 % t interval; 'held' when
    the interval lies below 0, 'contradicted' when above, else 'not resolved'."""
    weak = weak_modalities(truth)
    rows = with_truth(chosen, truth).filter(pl.col("part") == pl.col("regime")
                                            .replace_strict(weak))
    d = (rows.filter(pl.col("row") == "dgl_pid").select("regime", "fraction", "overlap", "seed",
                                                        pl.col("eta").alias("pid"))
         .join(rows.filter(pl.col("row") == "dgl").select("regime", "fraction", "overlap",
                                                           "seed", pl.col("eta").alias("dgl")),
               on=["regime", "fraction", "overlap", "seed"])
         .with_columns((pl.col("pid") - pl.col("dgl")).alias("d")).drop_nulls("d"))
    out = []
    lo_rho, hi_rho = rows["overlap"].min(), rows["overlap"].max()
    for (regime, fraction), _ in rows.group_by(["regime", "fraction"], maintain_order=True):
        grp = d.filter((pl.col("regime") == regime) & (pl.col("fraction") == fraction))
        ends = grp.filter(pl.col("overlap") == lo_rho).select("seed", pl.col("d").alias("low")).join(
            grp.filter(pl.col("overlap") == hi_rho).select("seed", pl.col("d").alias("high")),
            on="seed")
        row = {"regime": regime, "fraction": fraction, "d_low_overlap": ends["low"].mean(),
               "d_high_overlap": ends["high"].mean(), "contrast": None, "lo": None,
               "hi": None, "n": ends.height, "verdict": "diverged"}  # < 2 pairs trained
        if ends.height >= 2:
            mean, lo, hi = t_interval((ends["low"] - ends["high"]).to_numpy())
            row.update(contrast=mean, lo=lo, hi=hi, verdict="held" if hi < 0 else
                       "contradicted" if lo > 0 else "not resolved")
        out.append(row)
    return pl.DataFrame(out, infer_schema_length=None).sort(["regime", "fraction"])


# --- Markdown and findings --------------------------------------------------------------

def _ci(mean: float | None, lo: float | None, hi: float | None, scale: float = 100.0,
        digits: int = 2) -> str:
    if mean is None or lo is None or hi is None:
        return "none (fewer than two seeds trained)"
    return (f"{signed(mean * scale, digits)} [{signed(lo * scale, digits)}, "
            f"{signed(hi * scale, digits)}]")


def _points(value: float | None, digits: int = 1) -> str:
    return "none" if value is None else number(value * 100, digits)


#: The size of gap (accuracy, as a fraction) that counts as a laziness gap (issue 14).
LAZINESS_POINTS = 0.03


def laziness_findings(lazy: pl.DataFrame, weak: Mapping[str, int]) -> list[str]:
    """Per regime, the weak modality's laziness gap (unimodal - joint probe accuracy) and
    headroom: the largest gap with its interval, the cells where it is at least 3 points with
    an interval above 0 (a laziness gap), and the cells where the whole interval lies below 3
    points (a 3-point gap excluded at 95 %: what a control must show in every cell)."""
    out = []
    for regime, k in weak.items():
        sel = lazy.filter((pl.col("regime") == regime) & (pl.col("modality") == k))
        if not sel.height:
            continue
        top = sel.sort("gap", descending=True, nulls_last=True).row(0, named=True)
        big = sel.filter((pl.col("gap") >= LAZINESS_POINTS) & (pl.col("gap_lo") > 0))
        beyond = sel.filter(pl.col("gap_lo") > 0).height
        excluded = sel.filter(pl.col("gap_hi") < LAZINESS_POINTS).height
        out.append(
            f"- `{regime}`, weak modality {k}: laziness gap (unimodal - joint probe accuracy, "
            f"points, paired 95 % t interval) largest at ρ = {top['overlap']:g}, "
            f"n = {top['n_train']}: {_ci(top['gap'], top['gap_lo'], top['gap_hi'])}; "
            f"gap >= 3 points beyond noise in {big.height} of {sel.height} (overlap, fraction) "
            f"cells, above 0 beyond noise in {beyond}, a 3-point gap excluded (interval "
            f"below 3 points) in {excluded}; headroom (unimodal - random) "
            f"{_points(sel['headroom'].min())} to {_points(sel['headroom'].max())} points.")
    return out


def paired_findings(pairs: pl.DataFrame) -> list[str]:
    """Per comparison and measure: in how many (regime, overlap, fraction) cells A is better,
    B is better, or neither beyond noise; and every cell where DGL or DGL+PID loses."""
    out = []
    for (name, measure), grp in pairs.group_by(["comparison", "measure"], maintain_order=True):
        counts = {v: grp.filter(pl.col("verdict") == v).height
                  for v in ("A better", "B better", "within noise", "diverged")}
        a, b = name.split(" - ")
        mean = grp["diff"].mean()
        scale, unit = (100, " points") if measure == "fused_acc" else (1, " nats")
        out.append(f"- {name}, {measure.replace('_', ' ')}: {a} better in "
                   f"{counts['A better']}, {b} better in {counts['B better']}, within noise in "
                   f"{counts['within noise']} of {grp.height} cells"
                   + (f" (no pair trained in {counts['diverged']})" if counts["diverged"]
                      else "")
                   + "; mean difference "
                   + (f"{signed(mean * scale, 3)}{unit}." if mean is not None else "none."))
        if a in ("dgl", "dgl_pid"):
            losses = grp.filter(pl.col("verdict") == "B better")
            if losses.height:
                cells = "; ".join(f"{r['regime']} ρ={r['overlap']:g} n={r['n_train']}"
                                  for r in losses.iter_rows(named=True))
                out.append(f"  - {a} loses to {b} beyond noise ({measure}): {cells}.")
    return out


def pid_findings(pred: pl.DataFrame) -> list[str]:
    counts = {v: pred.filter(pl.col("verdict") == v).height
              for v in ("held", "contradicted", "not resolved", "diverged")}
    return [f"- DGL+PID prediction (dgl_pid - dgl on the weak modality's eta lowest at the "
            f"smallest overlap, rising toward the largest): held in {counts['held']}, "
            f"contradicted in {counts['contradicted']}, not resolved in "
            f"{counts['not resolved']} of {pred.height} (regime, fraction) cells"
            + (f", untestable (fewer than two seeds trained) in {counts['diverged']}."
               if counts["diverged"] else ".")]


def main_markdown(lazy: pl.DataFrame, methods: pl.DataFrame, pairs: pl.DataFrame,
                  pred: pl.DataFrame, weak: Mapping[str, int]) -> str:
    """The study's Markdown: how to read it, the computed findings, then the tables."""
    lines = [
        "# The main study: methods x overlap x sample size", "",
        "Every method trains the same late-fusion model with the same optimiser and step "
        "budget. Shared draws (common random numbers): every overlap of a seed uses the same "
        "latent draws; every method, subset and fraction of a seed uses the same data rows "
        "(fractions are nested prefixes), the same initial parameters and the same minibatch "
        "order, so differences are paired over seeds. Swept options are chosen per (regime, "
        "overlap, fraction) on the mean validation accuracy; *best fused* / *best unimodal* "
        "are chosen the same way, never on the test rows. ± std: the sample standard "
        "deviation over seeds; [lo, hi]: the 95 % t interval (n - 1 degrees of freedom) of "
        "the mean paired difference. *probe*: accuracy of the best linear head on a frozen "
        "encoder (fitted on fresh rows of the law, the model's own head a candidate), on the "
        "test rows. *eta* = that head's test cross-entropy - the exact Bayes cross-entropy of "
        "all modalities (nats). *random*: the shared initial encoder, untrained. Models not "
        "converged (hit the step cap before their patience ran out, or never improved on "
        "their initial validation loss): "
        f"{int(methods['n_unconverged'].sum())}; diverged: "
        f"{int(methods['n_diverged'].sum())}; eta estimates above the model's own risk "
        f"beyond noise: {int(methods['n_eta_violations'].sum())}.", "",
        "## Findings", "", *laziness_findings(lazy, weak), *paired_findings(pairs),
        *pid_findings(pred)]
    lines += _section("Laziness: probe accuracy of each encoder", [
        "regime", "ρ", "n", "modality", "random", "unimodal", "joint", "headroom (points)",
        "gap = unimodal - joint (points)", "Bayes"], [
        [r["regime"], f"{r['overlap']:g}", r["n_train"], r["modality"],
         pm(r["random_acc"], None, 4), pm(r["unimodal_acc"], None, 4),
         pm(r["joint_acc"], None, 4),
         _ci(r["headroom"], r["headroom_lo"], r["headroom_hi"]),
         _ci(r["gap"], r["gap_lo"], r["gap_hi"]), f"{r['bayes_acc_modality']:.4f}"]
        for r in lazy.iter_rows(named=True)])
    lines += _section("Methods", [
        "regime", "ρ", "n", "method", "fused acc ± std", "weak probe acc", "weak eta",
        "fused eta", "Bayes (all)", "seeds / unconverged", "chosen"], [
        [r["regime"], f"{r['overlap']:g}", r["n_train"], r["row"],
         pm(r["fused_acc"], r["fused_acc_std"] or 0.0, 4), pm(r["weak_probe_acc"], None, 4),
         pm(r["weak_eta"], None, 3), pm(r["fused_eta"], None, 3), f"{r['bayes_acc_all']:.4f}",
         f"{r['n_seeds']} / {r['n_unconverged']}", f"`{r['chosen_tag']}`"]
        for r in methods.iter_rows(named=True)])
    lines += _section("Paired differences (A - B)", [
        "comparison", "measure", "regime", "ρ", "n", "mean [95 % t interval]", "verdict"], [
        [r["comparison"], r["measure"], r["regime"], f"{r['overlap']:g}", r["n_train"],
         _ci(r["diff"], r["lo"], r["hi"], *((100.0, 2) if r["measure"] == "fused_acc"
                                            else (1.0, 4))), r["verdict"]]
        for r in pairs.iter_rows(named=True)])
    lines += _section("DGL+PID prediction", [
        "regime", "fraction", "D(ρ min)", "D(ρ max)", "D(ρ min) - D(ρ max) [95 %]",
        "verdict"], [
        [r["regime"], f"{r['fraction']:g}", signed(r["d_low_overlap"], 4),
         signed(r["d_high_overlap"], 4), _ci(r["contrast"], r["lo"], r["hi"], 1.0, 4),
         r["verdict"]] for r in pred.iter_rows(named=True)])
    return "\n".join(lines) + "\n"


def _section(title: str, header: list[str], rows: list[list[Any]]) -> list[str]:
    """A Markdown section: its heading and a table of ``rows`` under ``header``."""
    return ["", f"## {title}", "", "| " + " | ".join(header) + " |",
            "|" + "---|" * len(header), *("| " + " | ".join(str(c) for c in row) + " |"
                                          for row in rows)]


# --- gradients ----------------------------------------------------------------------

#: Methods whose gradient rows are equal by construction or meaningless, left out of the
#: gradient table: a unimodal model's multimodal loss is its unimodal loss (ratio 1 exactly);
#: UME never trains the shared head both losses are measured through.
GRADIENT_SKIP = ("unimodal", "ume")


def gradient_table(gradients: pl.DataFrame, chosen: pl.DataFrame) -> pl.DataFrame:
    """|g_multi|, |g_uni| and their ratio per (regime, overlap, method, modality) at the start
    (first measurement), middle (nearest to half of training) and end (last), mean over seeds
    (the ratio is averaged per seed), for the chosen points at the largest fraction, without
    :data:`GRADIENT_SKIP`."""
    top = chosen.filter(pl.col("fraction") == chosen["fraction"].max())
    tags = top.select("regime", "overlap", "tag").unique()
    g = (gradients.filter(~pl.col("method").is_in(GRADIENT_SKIP))
         .join(tags, on=["regime", "overlap", "tag"], how="semi")
         .with_columns((pl.col("g_multi") / pl.col("g_uni")).alias("ratio")))
    keys = ["regime", "overlap", "variant", "modality"]
    g = g.join(g.group_by(keys).agg(pl.col("progress").max().alias("p_end")), on=keys)
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
    return out[0].join(out[1], on=keys).join(out[2], on=keys).sort(keys)


def gradient_findings(table: pl.DataFrame, weak: Mapping[str, int]) -> list[str]:
    """The DGL claim in numbers, for joint training: (1) |g_multi| < |g_uni| on every encoder;
    (2) the suppression is strongest on the weak modality's encoder."""
    joint = table.filter(pl.col("variant") == "joint")
    out = []
    for phase in ("middle", "end"):
        below = int((joint[f"ratio_{phase}"] < 1).sum())
        out.append(f"- Joint training, {phase} of training: |g_multi| < |g_uni| on {below} of "
                   f"{joint.height} (regime, overlap, encoder) cells; ratio range "
                   f"{joint[f'ratio_{phase}'].min():.3f} to {joint[f'ratio_{phase}'].max():.3f}.")
        hits, total = 0, 0
        for (regime, _), grp in joint.group_by(["regime", "overlap"], maintain_order=True):
            hits += int(grp.sort(f"ratio_{phase}")["modality"][0] == weak.get(regime))
            total += 1
        out.append(f"- Joint training, {phase}: the most suppressed encoder is the weak "
                   f"modality's in {hits} of {total} (regime, overlap) cells.")
    return out


def gradient_markdown(table: pl.DataFrame, weak: Mapping[str, int]) -> str:
    lines = ["# Gradient norms per encoder", "",
             "|g_multi|: norm of the gradient of the multimodal loss with respect to the "
             "encoder's parameters; |g_uni|: of that modality's unimodal loss (shared head, "
             "other features zeroed); both measured on training minibatches at the largest "
             "fraction, whatever the method uses to update the encoder; mean over seeds, "
             "ratio = |g_multi| / |g_uni| averaged per seed. Left out: unimodal models (their "
             "two losses are the same loss, ratio 1 by construction) and UME (its shared head "
             "is never trained). What this shows: how much of the gradient an encoder would "
             "get from its own unimodal loss reaches it through the fused loss, as a "
             "batch-mean norm. What it does not: per-example gradients, their directions, or "
             "whether a smaller norm hurts the learned features (the laziness table measures "
             "that directly).", "", "## Findings", "",
             *gradient_findings(table, weak), "",
             "| regime | ρ | method | modality | start: multi / uni (ratio) | middle | end |",
             "|---|---|---|---|---|---|---|"]
    for r in table.iter_rows(named=True):
        cells = [f"{r[f'g_multi_{p}']:.4f} / {r[f'g_uni_{p}']:.4f} ({r[f'ratio_{p}']:.3f})"
                 for p in ("start", "middle", "end")]
        lines.append(f"| {r['regime']} | {r['overlap']:g} | {r['variant']} | {r['modality']} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
