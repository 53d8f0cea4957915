# Performance benchmark (not part of the default target: timings depend on the machine).
# Run with `snakemake --cores all bench`.


rule bench:
    output:
        md=f"{RESULTS}/bench.md",
        csv=f"{RESULTS}/bench.csv",
    params:
        device=config["device"],
        sizes=[
            {"name": "huang", "n_modalities": 4, "dim": 100, "width": 256, "batch": 256},
            {"name": "small", "n_modalities": 2, "dim": 64, "width": 64, "batch": 128},
        ],
        models=[1, 8, 64, 256],
        steps={"huang": 20, "small": 100},
        naive_runs=8,
    threads: lambda wildcards: workflow.cores  # all the cores given, read when the job runs
    conda:
        "../envs/mmtheory.yaml"
    log:
        f"{WORK}/logs/bench.log",
    script:
        "../scripts/bench.py"
