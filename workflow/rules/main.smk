# The main study: every method x overlap x sample size in regimes with and without a laziness
# gap - gradient traces, tables and figures from the per-model metrics.


rule main_gradients:
    localrule: True  # seconds of work: never worth a cluster job
    input:
        runs=runs_path("main", "{cell}"),
    output:
        f"{WORK}/main/gradients/{{cell}}.csv",
    params:
        job=lambda w: CELLS["main"][w.cell],
        fingerprint=lambda w: repr(CELLS["main"][w.cell]),
    conda:
        "../envs/mmtheory.yaml"
    log:
        f"{WORK}/logs/main/gradients_{{cell}}.log",
    script:
        "../scripts/main_gradients.py"


rule main_tables:
    localrule: True  # seconds of work: never worth a cluster job
    input:
        metrics=study_metrics()["main"],
        gradients=[f"{WORK}/main/gradients/{cell}.csv" for cell in main_top_cells()],
        truth=[truth_path(job.name) for job in MAIN.truth_jobs(TRUTH.seed, TRUTH.max_samples)],
    output:
        [
            report(f"{RESULTS}/tables/{t}.csv", caption="../report/table.rst", category="Tables")
            for t in MAIN_TABLES
        ],
        md=f"{RESULTS}/tables/main.md",
        gradients_md=f"{RESULTS}/tables/gradients.md",
        runs=f"{RESULTS}/tables/main_runs.csv",
    params:
        train=MAIN.train,  # the budget the convergence flag is read against
        rows=sum(cell.expected_rows() for cell in CELLS["main"].values()),
    conda:
        "../envs/mmtheory.yaml"
    log:
        f"{WORK}/logs/main/tables.log",
    script:
        "../scripts/main_tables.py"


rule main_plots:
    localrule: True  # seconds of work: never worth a cluster job
    input:
        methods=f"{RESULTS}/tables/main_methods.csv",
        paired=f"{RESULTS}/tables/main_paired.csv",
        runs=f"{RESULTS}/tables/main_runs.csv",
        gradients=[f"{WORK}/main/gradients/{cell}.csv" for cell in main_top_cells()],
    output:
        curves=report(
            f"{RESULTS}/figures/main_curves.png",
            caption="../report/main_curves.rst",
            category="Main study",
        ),
        heatmap=report(
            f"{RESULTS}/figures/main_heatmap.png",
            caption="../report/main_heatmap.rst",
            category="Main study",
        ),
        gradients=report(
            f"{RESULTS}/figures/gradient_ratio.png",
            caption="../report/gradient_ratio.rst",
            category="Main study",
        ),
    conda:
        "../envs/mmtheory.yaml"
    log:
        f"{WORK}/logs/main/plots.log",
    script:
        "../scripts/main_plots.py"
