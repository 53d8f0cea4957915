# Huang et al. (NeurIPS 2021) Table 4: data -> train -> evaluate -> tabulate -> plot.


rule huang2021_data:
    localrule: True  # seconds of work: never worth a cluster job
    output:
        f"{HUANG_WORK}/data/rho{{overlap}}.npz",
    params:
        law=huang2021_law_params,
        seeds=HUANG["seeds"],
        n_train=HUANG["n_train"],
        n_test=HUANG["n_test"],
        val_fraction=HUANG["val_fraction"],
    conda:
        "../envs/mmtheory.yaml"
    log:
        f"{WORK}/logs/huang2021/data_rho{{overlap}}.log",
    script:
        "../scripts/generate_data.py"


rule huang2021_train:
    input:
        f"{HUANG_WORK}/data/rho{{overlap}}.npz",
    output:
        f"{HUANG_WORK}/runs/rho{{overlap}}_{{encoder}}.pt",
    params:
        subsets=HUANG["subsets"],
        width=HUANG["width"],
        train=HUANG["train"],
        n_train=HUANG["n_train"],
        n_test=HUANG["n_test"],
        val_fraction=HUANG["val_fraction"],
        modality_dims=[HUANG["dim"]] * HUANG["n_modalities"],
        device=config["device"],
    threads: config["train_threads"]
    resources:
        mem_mb=1500,  # peak RSS measured on the default study, rounded up
    conda:
        "../envs/mmtheory.yaml"
    log:
        f"{WORK}/logs/huang2021/train_rho{{overlap}}_{{encoder}}.log",
    benchmark:
        f"{WORK}/benchmarks/huang2021/train_rho{{overlap}}_{{encoder}}.tsv"
    script:
        "../scripts/train.py"


rule huang2021_evaluate:
    input:
        data=f"{HUANG_WORK}/data/rho{{overlap}}.npz",
        runs=f"{HUANG_WORK}/runs/rho{{overlap}}_{{encoder}}.pt",
    output:
        f"{HUANG_WORK}/metrics/rho{{overlap}}_{{encoder}}.csv",
    params:
        law=huang2021_law_params,
        n_train=HUANG["n_train"],
        n_test=HUANG["n_test"],
        val_fraction=HUANG["val_fraction"],
    resources:
        mem_mb=6000,  # peak RSS measured on the default study, rounded up
    conda:
        "../envs/mmtheory.yaml"
    log:
        f"{WORK}/logs/huang2021/evaluate_rho{{overlap}}_{{encoder}}.log",
    benchmark:
        f"{WORK}/benchmarks/huang2021/evaluate_rho{{overlap}}_{{encoder}}.tsv"
    script:
        "../scripts/evaluate.py"


rule huang2021_table4:
    localrule: True  # seconds of work: never worth a cluster job
    input:
        metrics=study_metrics()["huang2021"],
        paper=RESOURCES / "huang2021_table4_paper.csv",
    output:
        csv=report(
            f"{RESULTS}/tables/huang_table4.csv",
            caption="../report/table.rst",
            category="Tables",
        ),
        md=f"{RESULTS}/tables/huang_table4.md",
        runs=f"{RESULTS}/tables/huang_table4_runs.csv",
    params:
        setting={k: HUANG[k] for k in ("n_modalities", "dim", "n_train", "n_test")},
    conda:
        "../envs/mmtheory.yaml"
    log:
        f"{WORK}/logs/huang2021/table4.log",
    script:
        "../scripts/tabulate_huang.py"


rule huang2021_bayes_table:
    localrule: True  # seconds of work: never worth a cluster job
    output:
        f"{RESULTS}/tables/bayes_risk_all_subsets.csv",
    params:
        generator=HUANG["generator"],
        law={"n_modalities": HUANG["n_modalities"], "dim": HUANG["dim"]},
        overlaps=HUANG["overlaps"],
    conda:
        "../envs/mmtheory.yaml"
    log:
        f"{WORK}/logs/huang2021/bayes_table.log",
    script:
        "../scripts/bayes_table.py"


rule huang2021_plot:
    localrule: True  # seconds of work: never worth a cluster job
    input:
        table=f"{RESULTS}/tables/huang_table4.csv",
    output:
        report(
            f"{RESULTS}/figures/huang_mse_vs_overlap.png",
            caption="../report/huang_mse_vs_overlap.rst",
            category="Huang et al. 2021",
        ),
    params:
        generator=HUANG["generator"],
        law={"n_modalities": HUANG["n_modalities"], "dim": HUANG["dim"]},
    conda:
        "../envs/mmtheory.yaml"
    log:
        f"{WORK}/logs/huang2021/plot.log",
    script:
        "../scripts/plot_huang.py"
