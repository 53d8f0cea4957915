# Shared by every rule file - the checked config, the typed study records and path helpers.
#
# Data flows one way: config -> data -> trained runs -> metrics -> tables/figures. The studies
# (dgl/studies/) turn the config into typed records: data files (DatasetSpec), training jobs
# (cells) and ground-truth jobs (TruthJob), each with a name that the file paths use; rules
# find a record again by that name (never by parsing it). A rule hands its record to its
# script as `params.job`, and `params.fingerprint` (its repr) as well: Snakemake reruns a job
# when a param changes, but compares builtin values only.
import os
import re
import sys
from pathlib import Path

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.pipeline.config import ConfigError, check_config
from dgl.studies.ground_truth import GroundTruth
from dgl.studies.huang2021 import Huang2021
from dgl.studies.main import MainStudy
from dgl.studies.theory import Theory, truth_job_name as theory_truth_job
from dgl.train.models import ENCODERS


# schema, then cross-field checks: one message naming the key and the allowed values, before
# any job runs
try:
    check_config(
        config,
        Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml",
        files=workflow.configfiles,
    )
except ConfigError as refused:  # one line naming the key, no traceback
    print(f"ConfigError: {refused}", file=sys.stderr)
    raise SystemExit(1)

WORK = config["work_dir"]
RESULTS = config["results_dir"]
RESOURCES = Path(workflow.basedir) / "workflow" / "resources"
# jobs write nothing outside the work dir and results/: matplotlib's font cache goes here
os.environ.setdefault("MPLCONFIGDIR", str(Path(WORK).resolve() / ".cache" / "matplotlib"))

TRUTH = GroundTruth.from_config(config["ground_truth"])
STUDIES = {
    "huang2021": Huang2021.from_config(config["huang2021"]),
    "main": MainStudy.from_config(config["main"]),
    "theory": Theory.from_config(config["theory"]),
}
HUANG, MAIN, THEORY = STUDIES["huang2021"], STUDIES["main"], STUDIES["theory"]
#: study -> data file name -> DatasetSpec; study -> cell name -> cell
DATASETS = {s: {d.name: d for d in study.datasets()} for s, study in STUDIES.items()}
CELLS = {s: {c.name: c for c in study.cells()} for s, study in STUDIES.items()}
#: job name -> TruthJob: the classification ground truth every study needs
TRUTH_JOBS = {
    job.name: job
    for job in TRUTH.truth_jobs()
    + MAIN.truth_jobs(TRUTH.seed, TRUTH.max_samples)
    + THEORY.truth_jobs(TRUTH.seed, TRUTH.max_samples)
}


wildcard_constraints:
    study="|".join(STUDIES),
    encoder="|".join(ENCODERS.names()),
    job="|".join(re.escape(name) for name in TRUTH_JOBS),


def data_path(study, name):
    return f"{WORK}/{study}/data/{name}.npz"


def runs_path(study, cell):
    return f"{WORK}/{study}/runs/{cell}.pt"


def metrics_path(study, cell):
    return f"{WORK}/{study}/metrics/{cell}.csv"


def truth_path(job, kind="subsets"):
    """The ground truth of a truth job: 'subsets' (Bayes values per subset) or 'pid'."""
    return f"{WORK}/truth/{job}/{kind}.csv"


def cell_inputs(wildcards):
    """The data files of a training or evaluation job."""
    cell = CELLS[wildcards.study][wildcards.cell]
    return [data_path(wildcards.study, name) for name in cell.datasets]


def evaluation_extra(wildcards):
    """Tables an evaluation job reads besides its data and runs: the theory classification
    cells' exact Bayes values."""
    cell = CELLS[wildcards.study][wildcards.cell]
    if wildcards.study == "theory" and cell.kind == "classification":
        return [truth_path(theory_truth_job(cell.task, cell.overlap))]
    return []


def study_metrics():
    """Per-model metrics of each study that trains models (they record the training device)."""
    return {
        study: [metrics_path(study, cell) for cell in CELLS[study]] for study in STUDIES
    }


# --- outputs of each study ------------------------------------------------------------
THEORY_TABLES = ["table1_accuracy_by_subset", "table2_gamma", "table3_sample_size",
                 "table4_eta_by_overlap", "linear_case", "theorem1_bound", "crossover"]


def huang2021_outputs():
    return [
        f"{RESULTS}/tables/huang_table4.csv",
        f"{RESULTS}/tables/huang_table4.md",
        f"{RESULTS}/tables/huang_table4_runs.csv",
        f"{RESULTS}/tables/bayes_risk_all_subsets.csv",
        f"{RESULTS}/figures/huang_mse_vs_overlap.png",
    ]


def ground_truth_outputs():
    return [
        f"{RESULTS}/tables/ground_truth.csv",
        f"{RESULTS}/tables/ground_truth_pid.csv",
        f"{RESULTS}/tables/ground_truth.md",
        f"{RESULTS}/tables/pid_regression.csv",
        f"{RESULTS}/figures/pid_vs_overlap.png",
    ]


MAIN_TABLES = ["main_laziness", "main_methods", "main_paired", "main_pid_prediction",
               "gradients"]


def main_top_cells():
    """The main study's cells at the largest fraction (they record gradient norms)."""
    return [name for name, cell in CELLS["main"].items()
            if cell.fraction == max(MAIN.fractions)]


def main_outputs():
    return (
        [f"{RESULTS}/tables/{t}.csv" for t in MAIN_TABLES]
        + [f"{RESULTS}/tables/main.md", f"{RESULTS}/tables/gradients.md",
           f"{RESULTS}/tables/main_runs.csv"]
        + [f"{RESULTS}/figures/{f}.png" for f in ("main_curves", "main_heatmap",
                                                  "gradient_ratio")]
    )


def theory_outputs():
    return (
        [f"{RESULTS}/tables/{t}.{ext}" for t in THEORY_TABLES for ext in ("csv", "md")]
        + [f"{RESULTS}/tables/theory_runs.csv"]
        + [f"{RESULTS}/figures/{f}.png" for f in ("eta_vs_overlap", "accuracy_vs_fraction",
                                                  "gamma_vs_fraction")]
        + [f"{RESULTS}/README.md"]
    )


def output_studies():
    """Output file -> the study that made it ('ground_truth' trains nothing)."""
    parts = {"huang2021": huang2021_outputs(), "ground_truth": ground_truth_outputs(),
             "main": main_outputs(), "theory": theory_outputs()}
    return {path: study for study, paths in parts.items() for path in paths}


def all_outputs():
    """Every table and figure the default target produces."""
    return list(output_studies())


def provenance_path(output):
    """results/<path> -> results/provenance/<path>.json"""
    return f"{RESULTS}/provenance/{Path(output).relative_to(RESULTS)}.json"
