# Config validation and path helpers shared by every rule file.
import os
from pathlib import Path

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.config_check import check_config


# schema, then cross-field checks: one message naming the key and the allowed values, before
# any job runs
check_config(config, Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml")

WORK = config["work_dir"]
RESULTS = config["results_dir"]
RESOURCES = Path(workflow.basedir) / "workflow" / "resources"
# jobs write nothing outside the work dir and results/: matplotlib's font cache goes here
os.environ.setdefault("MPLCONFIGDIR", str(Path(WORK).resolve() / ".cache" / "matplotlib"))


def overlap_tag(rho):
    """Overlap as written in file names: 0.8 -> '0.8', 1.0 -> '1'."""
    return f"{float(rho):g}"


wildcard_constraints:
    overlap=r"[0-9]+(\.[0-9]+)?",
    encoder="linear|relu",
    setting=r"[A-Za-z0-9_]+",
    task="regression|classification",


# --- Huang et al. 2021 study -----------------------------------------------------
HUANG = config["huang2021"]
HUANG_WORK = f"{WORK}/huang2021"


def huang2021_outputs():
    return [
        f"{RESULTS}/tables/huang_table4.csv",
        f"{RESULTS}/tables/huang_table4.md",
        f"{RESULTS}/tables/huang_table4_runs.csv",
        f"{RESULTS}/tables/bayes_risk_all_subsets.csv",
        f"{RESULTS}/figures/huang_mse_vs_overlap.png",
    ]


def huang2021_law_params(wildcards):
    return {
        "generator": HUANG["generator"],
        "n_modalities": HUANG["n_modalities"],
        "dim": HUANG["dim"],
        "overlap": float(wildcards.overlap),
    }




# --- exact ground truth of the generators -------------------------------------------
TRUTH = config["ground_truth"]
TRUTH_WORK = f"{WORK}/ground_truth"


def ground_truth_outputs():
    return [
        f"{RESULTS}/tables/ground_truth.csv",
        f"{RESULTS}/tables/ground_truth_pid.csv",
        f"{RESULTS}/tables/ground_truth.md",
        f"{RESULTS}/tables/pid_regression.csv",
        f"{RESULTS}/figures/pid_vs_overlap.png",
    ]


def truth_setting_params(wildcards):
    """The grid of one named SNR setting: every overlap x synergy combination."""
    cls = TRUTH["classification"]
    return {
        "generator": cls["generator"],
        "base": dict(cls["params"], snr=cls["snr_settings"][wildcards.setting]),
        "overlaps": cls["overlaps"],
        "synergy": cls["synergy"],
    }


# --- imbalance study --------------------------------------------------------------------
IMB = config["imbalance"]
IMB_WORK = f"{WORK}/imbalance"


def imbalance_outputs():
    return [
        f"{RESULTS}/tables/imbalance.csv",
        f"{RESULTS}/tables/imbalance.md",
        f"{RESULTS}/tables/imbalance_sweep.csv",
        f"{RESULTS}/tables/gradients.csv",
        f"{RESULTS}/tables/gradients.md",
        f"{RESULTS}/figures/gradient_ratio.png",
    ]


def imbalance_law_params(wildcards):
    return {
        "generator": IMB["generator"],
        "params": dict(IMB["params"], snr=IMB["settings"][wildcards.setting]),
        "overlaps": IMB["overlaps"],
    }


# --- theory study ---------------------------------------------------------------------------
THEORY = config["theory"]
THEORY_WORK = f"{WORK}/theory"
THEORY_TABLES = ["table1_accuracy_by_subset", "table2_gamma", "table3_sample_size",
                 "table4_eta_by_overlap", "linear_case", "theorem1_slack", "crossover"]


def theory_outputs():
    return (
        [f"{RESULTS}/tables/{t}.{ext}" for t in THEORY_TABLES for ext in ("csv", "md")]
        + [f"{RESULTS}/tables/theory_runs.csv"]
        + [f"{RESULTS}/figures/{f}.png" for f in ("eta_vs_overlap", "accuracy_vs_fraction",
                                                  "gamma_vs_fraction")]
        + [f"{RESULTS}/README.md"]
    )


def theory_cells():
    """(task, overlap, encoder) training cells of the theory study."""
    return [
        (task, overlap_tag(rho), enc)
        for task in ("regression", "classification")
        for rho in THEORY["overlaps"]
        for enc in THEORY[task]["encoders"]
    ]


def theory_law_params(wildcards):
    part = THEORY[wildcards.task]
    return {"generator": part["generator"],
            "params": dict(part["params"], overlap=float(wildcards.overlap))}


def theory_classification_params(wildcards):
    part = THEORY["classification"]
    return {"generator": part["generator"],
            "params": dict(part["params"], overlap=float(wildcards.overlap))}


def theory_truth_input(wildcards):
    """Exact Bayes values are needed by the classification cells only."""
    if wildcards.task == "classification":
        return f"{THEORY_WORK}/truth/classification_rho{wildcards.overlap}.csv"
    return []


def theory_n_modalities():
    """Number of modalities of each task of the theory study."""
    reg, cls = THEORY["regression"]["params"], THEORY["classification"]["params"]
    return {"regression": reg.get("n_modalities", 4), "classification": len(cls["snr"])}


def all_outputs():
    """Every table and figure the default target produces."""
    return huang2021_outputs() + ground_truth_outputs() + imbalance_outputs() + theory_outputs()


def study_metrics():
    """Per-model metrics of each study that trains models (they record the training device)."""
    return {
        "huang2021": expand(f"{HUANG_WORK}/metrics/rho{{overlap}}_{{encoder}}.csv",
                            overlap=[overlap_tag(o) for o in HUANG["overlaps"]],
                            encoder=HUANG["encoders"]),
        "imbalance": expand(f"{IMB_WORK}/metrics/{{setting}}.csv", setting=IMB["settings"]),
        "theory": [f"{THEORY_WORK}/metrics/{t}_rho{o}_{e}.csv" for t, o, e in theory_cells()],
    }


def output_studies():
    """Output file -> the study that made it ('ground_truth' trains nothing)."""
    parts = {"huang2021": huang2021_outputs(), "ground_truth": ground_truth_outputs(),
             "imbalance": imbalance_outputs(), "theory": theory_outputs()}
    return {path: study for study, paths in parts.items() for path in paths}


def provenance_path(output):
    """results/<path> -> results/provenance/<path>.json"""
    return f"{RESULTS}/provenance/{Path(output).relative_to(RESULTS)}.json"
