# Config validation and path helpers shared by every rule file.
from pathlib import Path

from snakemake.utils import validate

from synth.subsets import parse_subset


validate(config, schema="../schemas/config.schema.yaml")

WORK = config["work_dir"]
RESULTS = config["results_dir"]
RESOURCES = Path(workflow.basedir) / "workflow" / "resources"


def _check_cross_fields(cfg):
    """Checks a JSON schema cannot express; stops before any job runs."""
    section = cfg["huang2021"]
    for text in section["subsets"]:
        try:
            parse_subset(text, section["n_modalities"])
        except ValueError as err:
            raise ValueError(f"config key huang2021.subsets: {err}") from None


_check_cross_fields(config)


def overlap_tag(rho):
    """Overlap as written in file names: 0.8 -> '0.8', 1.0 -> '1'."""
    return f"{float(rho):g}"


wildcard_constraints:
    overlap=r"[0-9]+(\.[0-9]+)?",
    encoder="linear|relu",


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


