"""One study cell trained and evaluated on a device without Snakemake, and its metrics set
beside a CPU run's.

``python -m dgl.perf.device_cell --study main --cell lazy_f1 --device cuda --out DIR`` draws
the cell's data files, trains the cell on the device (its step captured in CUDA graphs on a
GPU), evaluates it as the workflow's ``evaluate`` rule does (the stacks saved and loaded back
through :mod:`dgl.pipeline.io`, as between the rules; its logistic probes fitted on
``--eval-device``, default the CPU, as the config's ``eval_device``), and writes
``DIR/<cell>.csv`` (the cell's metrics, as ``work/<study>/metrics/<cell>.csv``) and
``DIR/<cell>.json`` (seconds of each phase). It is for a GPU box that lacks Snakemake; cells
whose evaluation needs another job's output (the theory study's ground truth) are refused.

``python -m dgl.perf.device_cell --compare A.csv B.csv`` prints :func:`compare_metrics` of
two runs of one cell, e.g. a CUDA run and the CPU run of the default study: the checkpoint a
model keeps is chosen by discrete comparisons of validation losses, so float rounding that
differs between devices can move a model's best step, and its metrics with it.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import torch
import yaml

from dgl.pipeline.io import load_datasets, load_stacks, save_datasets, save_stacks, write_csv
from dgl.studies.huang2021 import Huang2021
from dgl.studies.main import MainStudy
from dgl.studies.stats import t_interval

#: Studies whose cells evaluate from their own data and runs alone.
STUDIES = {"huang2021": Huang2021, "main": MainStudy}
#: Columns that name a row (model and part) in a cell's metrics, where present.
ROW_KEYS = ("tag", "overlap", "seed", "subset", "part")
#: Metrics compared between two runs, where present.
METRICS = ("test_acc", "test_ce", "head_acc", "head_ce", "test_mse_model", "eta")


def run_cell(config: dict, study: str, cell_name: str, device: str, work: Path,
             eval_device: str = "cpu") -> tuple[pl.DataFrame, dict[str, float]]:
    """The metrics of one cell, drawn, trained on ``device`` and evaluated (its logistic
    probes fitted on ``eval_device``), with the seconds of each phase (files go under
    ``work``)."""
    if study not in STUDIES:
        raise ValueError(f"study {study!r}: one of {sorted(STUDIES)}")
    records = STUDIES[study].from_config(config[study])
    cells = {c.name: c for c in records.cells()}
    if cell_name not in cells:
        raise ValueError(f"cell {cell_name!r} of {study}: one of {sorted(cells)}")
    cell, specs = cells[cell_name], {d.name: d for d in records.datasets()}
    seconds, start = {}, time.perf_counter()
    paths = [work / f"{name}.npz" for name in cell.datasets]
    for name, path in zip(cell.datasets, paths):
        save_datasets(path, specs[name].draw())
    seconds["data"], start = time.perf_counter() - start, time.perf_counter()
    save_stacks(work / "runs.pt", cell.train(load_datasets(paths), device))
    if device == "cuda":
        torch.cuda.synchronize()
    seconds["train"], start = time.perf_counter() - start, time.perf_counter()
    metrics = cell.evaluate(load_datasets(paths), load_stacks(work / "runs.pt"),
                            device=eval_device)
    seconds["evaluate"] = time.perf_counter() - start
    return metrics, seconds


def compare_metrics(ours: pl.DataFrame, theirs: pl.DataFrame) -> dict[str, float]:
    """Two runs of one cell, row by row (the same models and parts in the same order, else a
    ValueError): the share of rows whose model kept the same best step, and for each metric
    the mean difference (ours - theirs) with its 95 % t interval (n - 1 degrees of freedom,
    rows taken as independent; the parts of one model are not), and the largest absolute
    difference, over all rows and over the rows whose best step agrees (metrics empty in
    every row are left out)."""
    keys = [k for k in ROW_KEYS if k in ours.columns]
    if ours.height != theirs.height or not ours.select(keys).equals(theirs.select(keys)):
        raise ValueError(f"the two runs hold different rows (by {keys}): not one cell's runs")
    same = (ours["best_step"] == theirs["best_step"]).to_numpy()
    out = {"rows": float(ours.height), "same_best_step": float(same.mean())}
    for name in (m for m in METRICS if m in ours.columns and m in theirs.columns):
        diff = (ours[name].cast(pl.Float64) - theirs[name].cast(pl.Float64)).to_numpy()
        ok = ~np.isnan(diff)
        if not ok.any():  # a metric this kind of cell leaves empty (head_acc in regression)
            continue
        mean, low, high = t_interval(diff[ok])
        out |= {f"{name}_mean_diff": mean, f"{name}_ci95": (high - low) / 2,
                f"{name}_max_abs_diff": float(np.abs(diff[ok]).max(initial=0.0)),
                f"{name}_max_abs_diff_same_step": float(
                    np.abs(diff[ok & same]).max(initial=0.0))}
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="config.yaml")
    parser.add_argument("--study", default="main")
    parser.add_argument("--cell", default="lazy_f1")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--eval-device", default="cpu", help="where the probes are fitted")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own)")
    parser.add_argument("--out", help="folder for <cell>.csv and <cell>.json")
    parser.add_argument("--compare", nargs=2, metavar=("OURS", "THEIRS"),
                        help="compare two metrics CSVs of one cell instead")
    args = parser.parse_args(argv)
    if args.compare:
        ours, theirs = (pl.read_csv(p, infer_schema_length=None) for p in args.compare)
        print(json.dumps(compare_metrics(ours, theirs), indent=2))
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    with open(args.config) as handle:
        config = yaml.safe_load(handle)
    with tempfile.TemporaryDirectory() as work:
        metrics, seconds = run_cell(config, args.study, args.cell, args.device, Path(work),
                                    args.eval_device)
    out = Path(args.out)
    write_csv(metrics, out / f"{args.cell}.csv")
    (out / f"{args.cell}.json").write_text(json.dumps(
        {"device": args.device, "eval_device": args.eval_device,
         "threads": torch.get_num_threads(), **seconds}))
    print(json.dumps(seconds))


if __name__ == "__main__":
    main()
