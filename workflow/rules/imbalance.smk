# The imbalance study: fused metrics of every variant point, the variant choice on validation
# (once, into the sweep table that evaluation reads), tables and figure.


rule imbalance_fused:
    input:
        data=cell_inputs,
        runs=runs_path("{study}", "{cell}"),
    output:
        fused=f"{WORK}/{{study}}/fused/{{cell}}.csv",
        gradients=f"{WORK}/{{study}}/gradients/{{cell}}.csv",
    wildcard_constraints:
        study="imbalance",
    params:
        job=lambda w: CELLS[w.study][w.cell],
        fingerprint=lambda w: repr(CELLS[w.study][w.cell]),
    threads: config["train_threads"]
    resources:
        mem_mb=3000,  # peak RSS measured on the default study, rounded up
    conda:
        "../envs/mmtheory.yaml"
    log:
        f"{WORK}/logs/{{study}}/fused_{{cell}}.log",
    benchmark:
        f"{WORK}/benchmarks/{{study}}/fused_{{cell}}.tsv"
    script:
        "../scripts/imbalance_fused.py"


rule imbalance_sweep:
    localrule: True  # seconds of work: never worth a cluster job
    input:
        fused=[f"{WORK}/imbalance/fused/{cell}.csv" for cell in CELLS["imbalance"]],
    output:
        work=f"{WORK}/imbalance/sweep.csv",
        table=f"{RESULTS}/tables/imbalance_sweep.csv",
    conda:
        "../envs/mmtheory.yaml"
    log:
        f"{WORK}/logs/imbalance/sweep.log",
    script:
        "../scripts/imbalance_sweep.py"


rule imbalance_tables:
    localrule: True  # seconds of work: never worth a cluster job
    input:
        metrics=study_metrics()["imbalance"],
        sweep=f"{WORK}/imbalance/sweep.csv",
        gradients=[f"{WORK}/imbalance/gradients/{cell}.csv" for cell in CELLS["imbalance"]],
        truth=[truth_path(job.name) for job in IMB.truth_jobs(TRUTH.seed, TRUTH.max_samples)],
    output:
        csv=report(
            f"{RESULTS}/tables/imbalance.csv",
            caption="../report/table.rst",
            category="Tables",
        ),
        md=f"{RESULTS}/tables/imbalance.md",
        gradients=report(
            f"{RESULTS}/tables/gradients.csv",
            caption="../report/table.rst",
            category="Tables",
        ),
        gradients_md=f"{RESULTS}/tables/gradients.md",
    params:
        settings={k: list(v) for k, v in IMB.settings.items()},
    conda:
        "../envs/mmtheory.yaml"
    log:
        f"{WORK}/logs/imbalance/tables.log",
    script:
        "../scripts/imbalance_tables.py"


rule imbalance_plot:
    localrule: True  # seconds of work: never worth a cluster job
    input:
        gradients=[f"{WORK}/imbalance/gradients/{cell}.csv" for cell in CELLS["imbalance"]],
        sweep=f"{WORK}/imbalance/sweep.csv",
    output:
        report(
            f"{RESULTS}/figures/gradient_ratio.png",
            caption="../report/gradient_ratio.rst",
            category="Imbalance study",
        ),
    conda:
        "../envs/mmtheory.yaml"
    log:
        f"{WORK}/logs/imbalance/plot.log",
    script:
        "../scripts/imbalance_plot.py"
