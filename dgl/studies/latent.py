"""Latent quality as Huang et al. (2021) define it: eta(g) = inf_h r(h o g) - r*(all K
modalities), an infimum over heads h (here: linear heads on the frozen features z = g(x)).

The infimum is taken where it is exact, and otherwise estimated without head-estimation error
posing as latent quality:

- *exact* (linear encoders, z = x_S W + b): the law of (z, y) is known
  (:meth:`synth.law.LinearGaussianLaw.image`, :meth:`synth.law.ClassConditionalGaussianLaw.image`).
  Regression: inf_h r(h o g) = Var(y) - c_z^T Sigma_z^+ c_z. Classification: the Bayes
  cross-entropy of the Gaussian law of z (a linear head attains it when the classes share a
  covariance, as every default law does; otherwise the fresh fit below is used);
- *fresh*: the best head fitted on a large fresh sample of the law (``fit_rows`` rows, never
  the test rows, drawn by seed so every model of a seed shares them), its penalty chosen on
  ``val_rows`` further fresh rows, its risk measured on the test rows. The model's own head
  is one of the heads too: where it is better on those held-out fresh rows it is taken
  (method *own*), so a model trained on more rows than the fresh sample is not charged the
  fresh head's estimation error.

Invariant, checked per model: the model's own head is one of the heads, so
inf_h r(h o g) <= r(model) (for one modality's encoder g_k: the shared head on z_k alone).
On the test rows the paired difference (model loss - head loss,
per row) has a mean and a 95 % t interval; the check is violated when the whole interval lies
below 0 (for an exact head: the model's measured risk below the exact infimum beyond noise).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from dgl.studies.stats import t_halfwidth_rows
from dgl.train.heads import (
    Moments,
    encoder_maps,
    model_features,
    own_head,
    select_ridge,
    stacked_features,
)
from dgl.train.losses import accuracy_per_model, ce_per_model, ce_rows
from dgl.train.probes import probe_logits, probe_metrics, run_on, select_probe
from dgl.train.stack import RestoredStack, TrainedStack, dataset_positions, map_rows
from synth.datasets import Datasets
from synth.information import classification_information
from synth.seeding import derive_seed


@dataclass(frozen=True)
class EtaConfig:
    """How inf_h r(h o g) is estimated where it is not exact (``eta`` in a study's config)."""

    fit_rows: int = 50_000
    val_rows: int = 10_000
    ridge: tuple[float, ...] = (0.0, 1e-4, 1e-2)  # relative to the mean feature power
    l2: tuple[float, ...] = (1e-5, 1e-3)
    mc_seed: int = 0  # Monte Carlo of an exact classification head (Bayes CE of z's law)
    mc_halfwidth: float = 0.002
    mc_max_samples: int = 1_000_000
    chunk: int = 8192
    own_head: bool = True  # the model's own head competes with the fresh fit on val_rows

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> EtaConfig:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in section.items()})


@dataclass(frozen=True)
class HeadRisk:
    """The best head on one model's frozen encoder: its risk (the estimate of inf_h r(h o g)),
    how it was found ('exact' or 'fresh') and the penalty chosen, and the paired check
    ``gap`` = model risk - head risk on the test rows with its 95 % t interval."""

    risk: float
    method: str
    penalty: float
    gap: float
    gap_lo: float
    gap_hi: float
    acc: float | None = None  # classification: the head's accuracy (exact: the Bayes one)

    @property
    def check(self) -> str:
        return "violated" if self.gap_hi < 0 else "ok"

    def columns(self, bayes_all: float) -> dict[str, Any]:
        """The per-model columns of the tables: eta = head risk - r*(all K modalities)."""
        return {"head_risk": self.risk, "eta": self.risk - bayes_all, "eta_method": self.method,
                "eta_check": self.check, "eta_gap": self.gap, "eta_gap_lo": self.gap_lo,
                "eta_gap_hi": self.gap_hi, "head_acc": self.acc}


def _head_risk(risk: float, method: str, penalty: float, model_loss: np.ndarray,
               head_loss: np.ndarray | float, acc: float | None = None) -> HeadRisk:
    """The head's risk with the paired check: per test row, model loss - head loss (an exact
    head: its risk), mean and 95 % t interval."""
    diff = np.asarray(model_loss - head_loss, dtype=float)
    mean, half = float(diff.mean()), float(t_halfwidth_rows(diff[None])[0])
    return HeadRisk(float(risk), method, float(penalty), mean, mean - half, mean + half,
                    None if acc is None else float(acc))


def fresh_chunks(laws: Mapping[float, Any], keys: Sequence[tuple[float, int]], n: int,
                 chunk: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``n`` fresh rows of every (overlap, seed) dataset, chunk by chunk: x [G, c, D]
    (float32) and y [G, c]. Dataset (rho, s) is drawn from the law at rho with the stream
    (s, 'eta'), the same latents at every overlap (common random numbers)."""
    rngs = [np.random.default_rng(derive_seed(seed, "eta")) for _, seed in keys]
    for start in range(0, n, chunk):
        size = min(chunk, n - start)
        parts = [laws[rho].sample(size, rng) for (rho, _), rng in zip(keys, rngs)]
        yield (np.stack([x.astype(np.float32) for x, _ in parts]),
               np.stack([y for _, y in parts]))


def _fresh_split(laws, keys, needed: list[int], cfg: EtaConfig
                 ) -> Iterator[tuple[str, torch.Tensor, np.ndarray]]:
    """The fresh rows of the datasets ``needed`` (positions in ``keys``, in that order: x
    [len(needed), c, D], y [len(needed), c]), chunk by chunk, labelled 'fit' (the first
    ``fit_rows``) or 'val' (the ``val_rows`` after them). Each dataset is drawn from its own
    stream: the same rows whichever datasets are drawn together."""
    done = 0
    for x, y in fresh_chunks(laws, [keys[g] for g in needed], cfg.fit_rows + cfg.val_rows,
                             cfg.chunk):
        cut = min(x.shape[1], max(0, cfg.fit_rows - done))
        done += x.shape[1]
        if cut:
            yield "fit", torch.as_tensor(x[:, :cut]), y[:, :cut]
        if cut < x.shape[1]:
            yield "val", torch.as_tensor(x[:, cut:]), y[:, cut:]


class FreshRows:
    """The fresh fit and validation rows of every (overlap, seed) dataset of ``keys``, each
    drawn once, on first use, and kept (classification probes of one cell read them once per
    stack and part). Dataset (rho, s) is drawn exactly as :func:`fresh_chunks` draws it
    (stream (s, 'eta'), ``cfg.chunk`` rows at a time), so the rows are the same whichever
    models ask for them and in whatever order."""

    def __init__(self, laws: Mapping[float, Any], keys: Sequence[tuple[float, int]],
                 cfg: EtaConfig) -> None:
        self.laws, self.keys, self.cfg = laws, list(keys), cfg
        self._rows: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def rows(self, g: int) -> tuple[np.ndarray, np.ndarray]:
        """x [fit_rows + val_rows, D] (float32) and y of dataset ``g``."""
        if g not in self._rows:
            chunks = list(fresh_chunks(self.laws, [self.keys[g]], self.cfg.fit_rows
                                       + self.cfg.val_rows, self.cfg.chunk))
            self._rows[g] = (np.concatenate([x[0] for x, _ in chunks]),
                             np.concatenate([y[0] for _, y in chunks]))
        return self._rows[g]

    def parts(self, group: Sequence[int]) -> Iterator[tuple[str, torch.Tensor, np.ndarray]]:
        """The rows of dataset ``group[e]`` for every model e, chunk by chunk, labelled 'fit'
        (the first ``fit_rows``) or 'val' (the ``val_rows`` after them)."""
        cut, n, step = self.cfg.fit_rows, self.cfg.fit_rows + self.cfg.val_rows, self.cfg.chunk
        data = [self.rows(g) for g in group]
        for part, lo, hi in (("fit", 0, cut), ("val", cut, n)):
            for start in range(lo, hi, step):
                stop = min(start + step, hi)
                yield (part, torch.as_tensor(np.stack([x[start:stop] for x, _ in data])),
                       np.stack([y[start:stop] for _, y in data]))


def regression_head_risks(stack: TrainedStack, restored: RestoredStack,
                          laws: Mapping[float, Any], datasets: Datasets, cfg: EtaConfig,
                          method: str = "auto") -> list[HeadRisk | None]:
    """inf_h r(h o g) of every model of a regression stack (None for a diverged model);
    ``method`` 'auto': exact for linear encoders, else fresh ('exact'/'fresh' force one)."""
    model, plan = restored.model, stack.plan
    group = dataset_positions(plan, datasets)
    test = plan.splits.test_rows()
    x_test = torch.as_tensor(datasets.x[:, test][group])  # test rows first: no copy of the rest
    y_test = datasets.y[:, test][group]
    with torch.no_grad():
        model_loss = (model(x_test)[..., 0].double().numpy() - y_test) ** 2
    out: list[HeadRisk | None] = [None] * len(plan.specs)
    ok = [e for e in range(len(plan.specs)) if not stack.diverged[e]]
    if _exact(method, plan.model.encoder == "linear"):
        for e in ok:
            subset, weight, _ = encoder_maps(model, e)
            risk = laws[plan.specs[e].overlap].image(subset, weight).bayes_mse((0,))
            out[e] = _head_risk(risk, "exact", 0.0, model_loss[e], risk)
        return out
    groups = _groups(model, ok, None)
    if not groups:  # every model diverged: no fresh rows to draw
        return out
    subs = [model.submodel(members).cpu().double() for members in groups]  # copies: in place
    moments = _fresh_moments(subs, [[group[e] for e in m] for m in groups], laws,
                             datasets.keys, cfg)
    for members, sub, acc in zip(groups, subs, moments):
        feats_test = model_features(sub, x_test[members])
        v, c = (t.double().numpy() for t in own_head(sub))  # coefficients on [z_S, 1]
        for j, e in enumerate(members):
            fit, val = acc["fit"][j], acc["val"][j]
            coef, lam = select_ridge(fit, val, cfg.ridge)
            own = np.r_[v[j, :, 0], c[j, 0, 0]]
            chosen = "own" if cfg.own_head and val.mse(own) < val.mse(coef) else "fresh"
            design = np.hstack([feats_test[j], np.ones((feats_test[j].shape[0], 1))])
            head_loss = (model_loss[e] if chosen == "own"  # the model itself: gap 0 exactly
                         else (design @ coef - y_test[e]) ** 2)
            out[e] = _head_risk(float(head_loss.mean()), chosen, lam, model_loss[e], head_loss)
    return out


def _fresh_moments(subs: list, datasets: list[list[int]], laws, keys, cfg: EtaConfig
                   ) -> list[dict[str, list[Moments]]]:
    """The moments of every model's frozen features (:func:`model_features`) on its fresh
    'fit' and 'val' rows: model j of stack ``subs[i]`` reads dataset ``datasets[i][j]``.
    Every chunk of fresh rows is drawn once, for all the stacks."""
    needed = sorted({g for group in datasets for g in group})
    where = [[needed.index(g) for g in group] for group in datasets]  # rows of the draws
    moments: list[dict[str, list[Moments]]] = [{"fit": [], "val": []} for _ in subs]
    for part, x, y in _fresh_split(laws, keys, needed, cfg):
        for sub, rows, acc in zip(subs, where, moments):
            for j, z in enumerate(model_features(sub, x[rows])):
                if len(acc[part]) <= j:
                    acc[part].append(Moments(z.shape[1]))
                acc[part][j].add(z, y[rows[j]])
    return moments


def classification_head_risks(stack: TrainedStack, restored: RestoredStack,
                              laws: Mapping[float, Any], datasets: Datasets, cfg: EtaConfig,
                              modality: int | None = None, method: str = "auto",
                              only: Collection[int] | None = None,
                              fresh: FreshRows | None = None,
                              device: torch.device | str | None = None
                              ) -> list[HeadRisk | None]:
    """inf_h r(h o g) (cross-entropy, nats) of every model of a classification stack whose
    encoder is g: the model's features on all its modalities, or on ``modality`` alone (a
    per-modality probe, for the models that see it); None for the others and for models not
    in ``only`` (default: all). ``method`` as for :func:`regression_head_risks` (exact needs
    every law to share one class covariance). ``fresh``: the fresh rows, to share them
    between calls (default: drawn for this call). ``device``: where the probes are fitted
    (:func:`~dgl.train.probes.run_on`; default: the CPU, with the features)."""
    model, plan = restored.model, stack.plan
    group = dataset_positions(plan, datasets)
    test = plan.splits.test_rows()
    x_sets = datasets.x[:, test]  # [G, n_test, D]: every dataset's test rows once
    y_test = torch.as_tensor(datasets.y[:, test][group], dtype=torch.long)
    own_test = _own_logits(restored, x_sets, group, modality)
    model_loss = ce_rows(own_test, y_test).double().numpy()
    ok = [e for e in range(len(plan.specs)) if not stack.diverged[e]
          and (modality is None or bool(model.masks[e, modality]))
          and (only is None or e in only)]
    out: list[HeadRisk | None] = [None] * len(plan.specs)
    linear = plan.model.encoder == "linear"
    if _exact(method, linear and all(law.shares_covariance() for law in laws.values())):
        for e in ok:
            out[e] = _exact_ce(model, e, laws[plan.specs[e].overlap], cfg, modality,
                               model_loss[e])
        return out
    fresh = fresh or FreshRows(laws, datasets.keys, cfg)
    for members in _groups(model, ok, modality, probe_group_size(device)):
        sub = model.submodel(members)
        data = _fresh_features(sub, fresh, [group[e] for e in members], modality)
        start = own_head(sub, modality) if plan.model.out_dim == 2 else None  # Newton's start
        probe, lams = run_on(device, select_probe, data["z_fit"], data["y_fit"],
                             data["z_val"], data["y_val"], plan.model.out_dim, cfg.l2, start)
        probe_val = probe_metrics(data["z_val"], data["y_val"], probe)[1]
        own_val = ce_per_model(data["own_val"], data["y_val"], torch.float64)
        x_members = torch.as_tensor(x_sets[[group[e] for e in members]])
        logits = probe_logits(_features(sub, x_members, modality), probe)
        for j, e in enumerate(members):
            own = cfg.own_head and bool(own_val[j] < probe_val[j])
            chosen = own_test[e] if own else logits[j]
            head_loss = ce_rows(chosen[None], y_test[e][None])[0].double().numpy()
            acc = float(accuracy_per_model(chosen[None], y_test[e][None])[0])
            out[e] = _head_risk(float(head_loss.mean()), "own" if own else "fresh",
                                float(lams[j]), model_loss[e], head_loss, acc)
    return out


def _exact(method: str, possible: bool) -> bool:
    if method not in ("auto", "exact", "fresh"):
        raise ValueError(f"unknown eta method {method!r}; known: ['auto', 'exact', 'fresh']")
    if method == "exact" and not possible:
        raise ValueError("an exact eta needs linear encoders (and, for classification, one "
                         "class covariance)")
    return method == "exact" or (method == "auto" and possible)


def _own_logits(restored: RestoredStack, x_sets: np.ndarray, group: list[int],
                modality: int | None) -> torch.Tensor:
    """The model's own head on g, on its dataset's rows ``x_sets[group[e]]`` (:func:`map_rows`):
    its late-fusion head on every modality it sees (its predictions under joint training), or
    for one modality's encoder the shared head on that modality's features alone
    (c + z_k V_k^T, a linear head on z_k)."""
    return map_rows(lambda x: _model_head(restored.model, x, modality), x_sets, group)


@torch.no_grad()
def _model_head(model, x: torch.Tensor, modality: int | None) -> torch.Tensor:
    if modality is None:
        return model(x)
    return model.logits([model.contribution(model.encode_one(x, modality), modality)])


def _exact_ce(model, e: int, law, cfg: EtaConfig, modality: int | None,
              model_loss: np.ndarray) -> HeadRisk:
    """The Bayes cross-entropy of the law of z = x_S W + b (Monte Carlo over its exact
    posterior): inf over linear heads when the classes share a covariance."""
    subset, weight, bias = encoder_maps(model, e)
    if modality is not None:  # the block of one modality
        j, h, dims = subset.index(modality), model.config.width, model.config.modality_dims
        rows = slice(sum(dims[k] for k in subset[:j]), sum(dims[k] for k in subset[: j + 1]))
        subset = (modality,)
        weight, bias = weight[rows, j * h : (j + 1) * h], bias[j * h : (j + 1) * h]
    image = law.image(subset, weight, bias)
    (info,) = classification_information(image, [(0,)], cfg.mc_seed, cfg.mc_halfwidth,
                                         max_samples=cfg.mc_max_samples)
    return _head_risk(info.cross_entropy, "exact", 0.0, model_loss, info.cross_entropy,
                      info.bayes_accuracy)


#: Models whose logistic probes are fitted as one stack, by the device that fits them. On an
#: H200 box (16 CPU threads; main lazy f = 1, 600 probes) the probe fits took 8.3 s on the
#: CPU and 9.0 s on CUDA in groups of 8, 5.9 and 4.0 s in groups of 64: on CUDA a group's
#: L-BFGS iteration costs its launches and syncs whatever the models it holds. On 2 CPU cores
#: at one thread groups of 64 took as long as groups of 8 (45 to 50 s for that cell's
#: evaluation either way), so the CPU keeps the smaller groups' memory.
PROBE_GROUP_SIZE = {"cpu": 8, "cuda": 64}


def probe_group_size(device: torch.device | str | None) -> int:
    """:data:`PROBE_GROUP_SIZE` of ``device`` (None: the CPU)."""
    kind = torch.device(device or "cpu").type
    if kind not in PROBE_GROUP_SIZE:
        raise ValueError(f"no probe group size for device {kind!r}; "
                         f"known: {sorted(PROBE_GROUP_SIZE)}")
    return PROBE_GROUP_SIZE[kind]


def _groups(model, models: list[int], modality: int | None, size: int = 8) -> list[list[int]]:
    """Models whose features have the same width, in groups of at most ``size`` (each
    group's probes are fitted as one stack; the size bounds the memory of the fresh rows)."""
    width = {e: 1 if modality is not None else int(model.masks[e].sum()) for e in models}
    out = []
    for w in sorted(set(width.values())):
        same = [e for e in models if width[e] == w]
        out += [same[i : i + size] for i in range(0, len(same), size)]
    return out


def _fresh_features(model, fresh: FreshRows, group: list[int], modality: int | None
                    ) -> dict[str, torch.Tensor]:
    """Features and labels of the fresh fit and validation rows of every model."""
    parts: dict[str, list] = {"z_fit": [], "y_fit": [], "z_val": [], "y_val": [],
                              "own_val": []}
    for part, x, y in fresh.parts(group):
        parts[f"z_{part}"].append(_features(model, x, modality))
        parts[f"y_{part}"].append(torch.as_tensor(y, dtype=torch.long))
        if part == "val":  # the model's own head, a candidate of its own
            parts["own_val"].append(_model_head(model, x, modality))
    return {p: torch.cat(v, dim=1) for p, v in parts.items()}


def _features(model, x: torch.Tensor, modality: int | None) -> torch.Tensor:
    """Frozen features [E, n, p] (float32: the probes compute in float32) of models of one
    feature width: all of each model's modalities, or one modality's encoder."""
    if modality is not None:
        with torch.no_grad():
            return model.encode_one(x, modality)
    return stacked_features(model, x)
