# mmtheory: `snakemake --cores all` regenerates every table and figure under results/.
from snakemake.utils import min_version

min_version("9.0")


# config.yaml is the default study; a config given with --configfile replaces it whole (no
# section is merged in from config.yaml).
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"



include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/huang2021.smk"
include: "workflow/rules/ground_truth.smk"
include: "workflow/rules/main.smk"
include: "workflow/rules/theory.smk"
include: "workflow/rules/bench.smk"
include: "workflow/rules/provenance.smk"


rule all:
    input:
        all_outputs(),
        [provenance_path(p) for p in all_outputs()],
    default_target: True
