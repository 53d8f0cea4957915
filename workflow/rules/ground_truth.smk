# Exact ground truth of the generators: computed once per setting, then tabulated and plotted.


rule ground_truth_classification:
    output:
        subsets=f"{TRUTH_WORK}/classification_{{setting}}.csv",
        pid=f"{TRUTH_WORK}/classification_{{setting}}_pid.csv",
    params:
        grid=truth_setting_params,
        seed=TRUTH["seed"],
        halfwidth=TRUTH["halfwidth"],
        max_samples=TRUTH["max_samples"],
    conda:
        "../envs/mmtheory.yaml"
    log:
        f"{WORK}/logs/ground_truth/classification_{{setting}}.log",
    benchmark:
        f"{WORK}/benchmarks/ground_truth/classification_{{setting}}.tsv"
    script:
        "../scripts/ground_truth_classification.py"


rule ground_truth_regression_pid:
    output:
        f"{RESULTS}/tables/pid_regression.csv",
    params:
        generator=TRUTH["regression"]["generator"],
        law={
            k: TRUTH["regression"][k] for k in ("n_modalities", "dim", "target_noise_var")
        },
        overlaps=TRUTH["regression"]["overlaps"],
    conda:
        "../envs/mmtheory.yaml"
    log:
        f"{WORK}/logs/ground_truth/regression_pid.log",
    script:
        "../scripts/ground_truth_regression.py"


rule ground_truth_table:
    localrule: True  # seconds of work: never worth a cluster job
    input:
        subsets=expand(
            f"{TRUTH_WORK}/classification_{{setting}}.csv",
            setting=TRUTH["classification"]["snr_settings"],
        ),
        pid=expand(
            f"{TRUTH_WORK}/classification_{{setting}}_pid.csv",
            setting=TRUTH["classification"]["snr_settings"],
        ),
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
        "../scripts/plot_pid.py"
