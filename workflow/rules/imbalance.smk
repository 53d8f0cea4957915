# The imbalance study: every method on easy/hard-modality data, gradients and linear probes.


rule imbalance_data:
    localrule: True  # seconds of work: never worth a cluster job
    output:
        f"{IMB_WORK}/data/{{setting}}.npz",
    params:
        law=imbalance_law_params,
        seeds=IMB["seeds"],
        splits={k: IMB[k] for k in ("n_train", "n_test", "val_fraction")},
    conda:
        "../envs/mmtheory.yaml"
    log:
        f"{WORK}/logs/imbalance/data_{{setting}}.log",
    script:
        "../scripts/imbalance_data.py"


rule imbalance_truth:
    output:
        f"{IMB_WORK}/truth/{{setting}}.csv",
    params:
        law=imbalance_law_params,
        seed=config["ground_truth"]["seed"],
        halfwidth=IMB["truth_halfwidth"],
        max_samples=config["ground_truth"]["max_samples"],
    conda:
        "../envs/mmtheory.yaml"
    log:
        f"{WORK}/logs/imbalance/truth_{{setting}}.log",
    benchmark:
        f"{WORK}/benchmarks/imbalance/truth_{{setting}}.tsv"
    script:
        "../scripts/imbalance_truth.py"


rule imbalance_train:
    input:
        f"{IMB_WORK}/data/{{setting}}.npz",
    output:
        f"{IMB_WORK}/runs/{{setting}}.pt",
    params:
        law=imbalance_law_params,
        splits={k: IMB[k] for k in ("n_train", "n_test", "val_fraction")},
        model={k: IMB[k] for k in ("encoder", "width", "fusion")},
        train=IMB["train"],
        variants=IMB["variants"],
        device=config["device"],
    threads: config["train_threads"]
    resources:
        mem_mb=1000,  # peak RSS measured on the default study, rounded up
    conda:
        "../envs/mmtheory.yaml"
    log:
        f"{WORK}/logs/imbalance/train_{{setting}}.log",
    benchmark:
        f"{WORK}/benchmarks/imbalance/train_{{setting}}.tsv"
    script:
        "../scripts/imbalance_train.py"


rule imbalance_evaluate:
    input:
        data=f"{IMB_WORK}/data/{{setting}}.npz",
        runs=f"{IMB_WORK}/runs/{{setting}}.pt",
    output:
        metrics=f"{IMB_WORK}/metrics/{{setting}}.csv",
        gradients=f"{IMB_WORK}/metrics/{{setting}}_gradients.csv",
    params:
        splits={k: IMB[k] for k in ("n_train", "n_test", "val_fraction")},
    threads: config["train_threads"]
    resources:
        mem_mb=3000,  # peak RSS measured on the default study, rounded up
    conda:
        "../envs/mmtheory.yaml"
    log:
        f"{WORK}/logs/imbalance/evaluate_{{setting}}.log",
    benchmark:
        f"{WORK}/benchmarks/imbalance/evaluate_{{setting}}.tsv"
    script:
        "../scripts/imbalance_evaluate.py"


rule imbalance_tables:
    localrule: True  # seconds of work: never worth a cluster job
    input:
        metrics=study_metrics()["imbalance"],
        gradients=expand(
            f"{IMB_WORK}/metrics/{{setting}}_gradients.csv", setting=IMB["settings"]
        ),
        truth=expand(f"{IMB_WORK}/truth/{{setting}}.csv", setting=IMB["settings"]),
    output:
        csv=report(
            f"{RESULTS}/tables/imbalance.csv",
            caption="../report/table.rst",
            category="Tables",
        ),
        md=f"{RESULTS}/tables/imbalance.md",
        sweep=f"{RESULTS}/tables/imbalance_sweep.csv",
        gradients=report(
            f"{RESULTS}/tables/gradients.csv",
            caption="../report/table.rst",
            category="Tables",
        ),
        gradients_md=f"{RESULTS}/tables/gradients.md",
    params:
        settings=IMB["settings"],
    conda:
        "../envs/mmtheory.yaml"
    log:
        f"{WORK}/logs/imbalance/tables.log",
    script:
        "../scripts/imbalance_tables.py"


rule imbalance_plot:
    localrule: True  # seconds of work: never worth a cluster job
    input:
        gradients=expand(
            f"{IMB_WORK}/metrics/{{setting}}_gradients.csv", setting=IMB["settings"]
        ),
        sweep=f"{RESULTS}/tables/imbalance_sweep.csv",
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
        "../scripts/plot_gradients.py"
