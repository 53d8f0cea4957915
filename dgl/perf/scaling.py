"""Is the default study's cost linear in its grid? Run it at fractions of the grid and time it.

The grid is what the study trains: Huang cells (overlaps x encoders x seeds x subsets),
main-study stacks (regimes x fractions x overlaps x seeds x variant points, K models for
``unimodal``) and theory stacks (tasks x encoders x overlaps x fractions x seeds x subsets). A
scaled config keeps the first seeds and evenly spaced overlaps of each study (and regimes of
the main study),
the counts chosen so that the product of the kept shares is closest to the target fraction
(at least two seeds: the tables report intervals across seeds); every other knob, sample
sizes, sample-size fractions and epochs included, is unchanged. The
ground-truth overlaps are thinned the same way. The fraction actually reached is the ratio of
model counts, and cost is linear when wall time / full wall time equals it.

    python -m dgl.perf.scaling --fractions 1 0.25 0.0625 --cores 2 --out results/bench_scaling

runs ``snakemake`` on each scaled config in a fresh temporary directory (the same Snakefile and
code) and writes a CSV and a Markdown table.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
import yaml

from dgl.pipeline.config import count_models
from dgl.pipeline.io import write_csv, write_text

ROOT = Path(__file__).resolve().parents[2]


def _spread(values: list, n: int) -> list:
    """n evenly spaced members of ``values`` (both ends first)."""
    if n >= len(values):
        return list(values)
    if n == 1:
        return [values[0]]
    return [values[round(i * (len(values) - 1) / (n - 1))] for i in range(n)]


def _choose(sizes: list[int], minima: list[int], fraction: float) -> tuple[int, ...]:
    """Counts per axis (at least its minimum) whose product / full product is closest to
    ``fraction``; ties keep more of the earlier axes."""
    full = math.prod(sizes)
    options = itertools.product(*(range(min(lo, n), n + 1) for n, lo in zip(sizes, minima)))
    return min(options, key=lambda c: (abs(math.prod(c) / full - fraction),
                                       tuple(-v for v in c)))


#: Axes thinned per study: (key, minimum kept); seeds first (kept longest on ties).
AXES = {
    "huang2021": [("seeds", 2), ("overlaps", 1)],
    "main": [("seeds", 2), ("overlaps", 1), ("regimes", 1)],
    "theory": [("seeds", 2), ("overlaps", 1)],  # not the sample-size fractions: unequal costs
}


def scaled_config(cfg: dict, fraction: float) -> dict:
    """The config with each study's grid axes thinned to about ``fraction`` of its grid."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    out = copy.deepcopy(cfg)
    for study, axes in AXES.items():
        part = out[study]
        counts = _choose([len(part[key]) for key, _ in axes], [lo for _, lo in axes], fraction)
        for (key, _), n in zip(axes, counts):
            if key == "seeds":
                part[key] = part[key][:n]
            elif isinstance(part[key], dict):
                part[key] = {k: part[key][k] for k in _spread(list(part[key]), n)}
            else:
                part[key] = _spread(part[key], n)
    for task in ("classification", "regression"):
        gt = out["ground_truth"][task]
        gt["overlaps"] = _spread(gt["overlaps"], max(1, round(fraction * len(gt["overlaps"]))))
    return out


_STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
_START = re.compile(r"^\s*jobid: (\d+)$")
_END = re.compile(r"^Finished jobid: (\d+)")


def job_intervals(log_text: str) -> list[tuple[float, float]]:
    """(start, end) in seconds since the epoch of every job in a Snakemake log: a job starts
    at the time stamp above its ``rule``/``localrule`` block (whose ``jobid:`` line names it)
    and ends at the time stamp above its ``Finished jobid:`` line (1-second resolution)."""
    starts: dict[str, float] = {}
    out, stamp, opened = [], None, False
    for line in log_text.splitlines():
        if m := _STAMP.match(line.strip()):
            stamp, opened = time.mktime(time.strptime(m.group(1), "%a %b %d %H:%M:%S %Y")), False
        elif re.match(r"^(local)?rule \w+:$", line.strip()):
            opened = True
        elif (m := _START.match(line)) and opened and stamp is not None:
            starts[m.group(1)], opened = stamp, False
        elif (m := _END.match(line.strip())) and stamp is not None and m.group(1) in starts:
            out.append((starts.pop(m.group(1)), stamp))
    return out


def busy_seconds(intervals: list[tuple[float, float]]) -> float:
    """Length of the union of the intervals: the time at least one job ran."""
    total, end = 0.0, -math.inf
    for a, b in sorted(intervals):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


def import_seconds() -> float:
    """Seconds a fresh interpreter takes to import what every job script imports (torch, the
    studies, the pipeline's I/O): paid once per job, inside the job's own time."""
    cmd = [sys.executable, "-c", "import mmtheory, dgl.studies.main, dgl.studies.theory, "
           "dgl.studies.huang2021, dgl.pipeline.io, polars"]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - start


def time_study(cfg: dict, cores: int, log=print, keep_results: str | None = None
               ) -> dict[str, float]:
    """Wall seconds of ``snakemake --cores`` on ``cfg`` in a fresh temporary directory, the
    seconds no job ran (Snakemake's own work: building the DAG, scheduling, checking files;
    from its log) and the number of jobs; ``keep_results``: copy the run's results/ there
    (e.g. the committed results of the full grid, so the timed run is the run whose numbers
    are committed)."""
    with tempfile.TemporaryDirectory(prefix="mmtheory_scaling_") as tmp:
        path = Path(tmp) / "config.yaml"
        # config order kept: it orders rows and stacks, so a full-grid run equals config.yaml's
        path.write_text(yaml.safe_dump({**cfg, "work_dir": "work", "results_dir": "results"},
                                       sort_keys=False))
        cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"),
               "--configfile", str(path), "--directory", tmp, "--cores", str(cores)]
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"snakemake failed on the scaled config:\n{proc.stderr[-3000:]}")
        if keep_results:
            shutil.copytree(Path(tmp) / "results", keep_results, dirs_exist_ok=True)
    intervals = job_intervals(proc.stderr)
    outside = max(0.0, seconds - busy_seconds(intervals))
    log(f"{seconds:.0f} s, {len(intervals)} jobs, {outside:.0f} s with no job running")
    return {"wall_s": seconds, "outside_jobs_s": outside, "jobs": len(intervals)}


def scaling_table(cfg: dict, fractions: list[float], cores: int, log=print,
                  keep_full_results: str | None = None) -> pl.DataFrame:
    full = sum(count_models(cfg).values())
    per_job_import = import_seconds()
    rows = []
    for f in fractions:
        scaled = scaled_config(cfg, f)
        counts = count_models(scaled)
        log(f"grid fraction {f:g}: {sum(counts.values())} of {full} models {counts}")
        run = time_study(scaled, cores, log, keep_full_results if f == 1 else None)
        rows.append({"target_fraction": f, "models": sum(counts.values()),
                     "model_fraction": sum(counts.values()) / full, **run,
                     "outside_jobs_fraction": run["outside_jobs_s"] / run["wall_s"],
                     # every job's imports, spread over the cores, as a share of the wall time
                     "imports_fraction": run["jobs"] * per_job_import / (cores * run["wall_s"])})
    table = pl.DataFrame(rows)
    base = table.filter(pl.col("target_fraction") == max(fractions))["wall_s"][0]
    top = table.filter(pl.col("target_fraction") == max(fractions))["model_fraction"][0]
    return table.with_columns(time_fraction=pl.col("wall_s") / base).with_columns(
        cost_ratio=(pl.col("time_fraction") / (pl.col("model_fraction") / top)))


def scaling_markdown(table: pl.DataFrame, cores: int) -> str:
    import torch

    lines = [
        "# Cost of the default study against its grid size", "",
        f"`python -m dgl.perf.scaling` on {platform.machine()} with {os.cpu_count()} CPU cores, "
        f"`snakemake --cores {cores}`, torch {torch.__version__} ({torch.get_num_threads()} "
        "threads per process before Snakemake sets its own). Each scaled run keeps the first "
        "seeds and evenly spaced overlaps of every study (see `dgl/perf/scaling.py`); model fraction "
        "= models trained / models of the full grid; cost ratio = time fraction / model "
        "fraction (1 = linear; > 1: fixed costs weigh more in small grids). Outside jobs: the "
        "share of the wall time in which no job ran (Snakemake building the DAG, scheduling and "
        "checking files; from its log's time stamps). Imports: every job's imports (timed once "
        "in a fresh interpreter, times the jobs, over the cores), a share of the wall time paid "
        "inside the jobs.", "",
        "| target grid fraction | models | model fraction | jobs | wall time (s) | time fraction "
        "| cost ratio | outside jobs | imports |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in table.iter_rows(named=True):
        lines.append(f"| {r['target_fraction']:g} | {r['models']} | {r['model_fraction']:.3f} "
                     f"| {r['jobs']} | {r['wall_s']:.0f} | {r['time_fraction']:.3f} "
                     f"| {r['cost_ratio']:.2f} | {r['outside_jobs_fraction']:.1%} "
                     f"| {r['imports_fraction']:.1%} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(ROOT / "config.yaml"))
    parser.add_argument("--fractions", type=float, nargs="+", default=[1.0, 0.25, 0.0625])
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", default=str(ROOT / "results" / "bench_scaling"),
                        help="output stem: writes STEM.csv and STEM.md")
    parser.add_argument("--keep-full-results", default=None,
                        help="copy the full-grid run's results/ into this folder")
    args = parser.parse_args(argv)
    cfg = yaml.safe_load(Path(args.config).read_text())
    table = scaling_table(cfg, sorted(args.fractions, reverse=True), args.cores,
                          keep_full_results=args.keep_full_results)
    write_csv(table, args.out + ".csv", digits=4)
    markdown = scaling_markdown(table, args.cores)
    write_text(args.out + ".md", markdown)
    print(markdown)


if __name__ == "__main__":
    main()
