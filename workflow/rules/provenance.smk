# Provenance sidecars: results/provenance/<output>.json for every table and figure
# (config hash, code version, package versions, training devices; see dgl/pipeline/provenance.py).
from dgl.pipeline.provenance import code_version


rule provenance:
    input:
        outputs=all_outputs(),
        metrics=[p for paths in study_metrics().values() for p in paths],
    output:
        [provenance_path(p) for p in all_outputs()],
    params:
        studies=output_studies(),
        metrics=study_metrics(),
        config=config,
        config_files=[str(p) for p in workflow.configfiles],
        code=code_version(workflow.basedir),
    localrule: True
    conda:
        "../envs/mmtheory.yaml"
    log:
        f"{WORK}/logs/provenance.log",
    script:
        "../scripts/provenance.py"
