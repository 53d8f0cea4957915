# Exact ground truth of the generators: tables and figure (the classification ground truth of
# every setting is computed by rule classification_truth, rules/data.smk).


rule ground_truth_regression_pid:
    output:
        f"{RESULTS}/tables/pid_regression.csv",
    params:
        study=TRUTH,
        fingerprint=repr(TRUTH),
    conda:
        "../envs/mmtheory.yaml"
    log:
        f"{WORK}/logs/ground_truth/regression_pid.log",
    script:
        "../scripts/ground_truth_regression_pid.py"


rule ground_truth_table:
    localrule: True  # seconds of work: never worth a cluster job
    input:
        subsets=[truth_path(job.name) for job in TRUTH.truth_jobs()],
        pid=[truth_path(job.name, "pid") for job in TRUTH.truth_jobs()],
        regression=f"{RESULTS}/tables/pid_regression.csv",
    output:
        csv=report(
            f"{RESULTS}/tables/ground_truth.csv",
            caption="../report/table.rst",
            category="Tables",
        ),
        pid=report(
            f"{RESULTS}/tables/ground_truth_pid.csv",
            caption="../report/table.rst",
            category="Tables",
        ),
        md=f"{RESULTS}/tables/ground_truth.md",
    conda:
        "../envs/mmtheory.yaml"
    log:
        f"{WORK}/logs/ground_truth/table.log",
    script:
        "../scripts/ground_truth_table.py"


rule ground_truth_plot:
    localrule: True  # seconds of work: never worth a cluster job
    input:
        pid=f"{RESULTS}/tables/ground_truth_pid.csv",
    output:
        report(
            f"{RESULTS}/figures/pid_vs_overlap.png",
            caption="../report/pid_vs_overlap.rst",
            category="Ground truth",
        ),
    conda:
        "../envs/mmtheory.yaml"
    log:
        f"{WORK}/logs/ground_truth/plot.log",
    script:
        "../scripts/ground_truth_plot.py"
