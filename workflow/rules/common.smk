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
