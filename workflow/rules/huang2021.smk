# Huang et al. (NeurIPS 2021) Table 4: data -> train -> evaluate -> tabulate -> plot.
H = config["huang2021"]
HW = f"{WORK}/huang2021"


def huang2021_outputs():
    return [
        f"{RESULTS}/tables/huang_table4.csv",
        f"{RESULTS}/tables/huang_table4.md",
        f"{RESULTS}/tables/huang_table4_runs.csv",
        f"{RESULTS}/tables/bayes_risk_all_subsets.csv",
        f"{RESULTS}/figures/huang_mse_vs_overlap.png",
    ]


def huang2021_law_params(wildcards):
    return {
        "generator": H["generator"],
        "n_modalities": H["n_modalities"],
        "dim": H["dim"],
        "overlap": float(wildcards.overlap),
    }


rule huang2021_data:
    output:
        f"{HW}/data/rho{{overlap}}.npz",
    params:
        law=huang2021_law_params,
        seeds=H["seeds"],
        n_train=H["n_train"],
        n_test=H["n_test"],
        val_fraction=H["val_fraction"],
    log:
        f"{WORK}/logs/huang2021/data_rho{{overlap}}.log",
    script:
        "../scripts/generate_data.py"


rule huang2021_train:
    input:
        f"{HW}/data/rho{{overlap}}.npz",
    output:
        f"{HW}/runs/rho{{overlap}}_{{encoder}}.pt",
    params:
        subsets=H["subsets"],
        width=H["width"],
        train=H["train"],
        n_train=H["n_train"],
        n_test=H["n_test"],
        val_fraction=H["val_fraction"],
        modality_dims=[H["dim"]] * H["n_modalities"],
        device=config["device"],
    threads: config["train_threads"]
    log:
        f"{WORK}/logs/huang2021/train_rho{{overlap}}_{{encoder}}.log",
    benchmark:
        f"{WORK}/benchmarks/huang2021/train_rho{{overlap}}_{{encoder}}.tsv"
    script:
        "../scripts/train.py"


rule huang2021_evaluate:
    input:
        data=f"{HW}/data/rho{{overlap}}.npz",
        runs=f"{HW}/runs/rho{{overlap}}_{{encoder}}.pt",
    output:
        f"{HW}/metrics/rho{{overlap}}_{{encoder}}.csv",
    params:
        law=huang2021_law_params,
        n_train=H["n_train"],
        n_test=H["n_test"],
        val_fraction=H["val_fraction"],
    log:
        f"{WORK}/logs/huang2021/evaluate_rho{{overlap}}_{{encoder}}.log",
    benchmark:
        f"{WORK}/benchmarks/huang2021/evaluate_rho{{overlap}}_{{encoder}}.tsv"
    script:
        "../scripts/evaluate.py"


rule huang2021_table4:
    input:
        metrics=expand(
            f"{HW}/metrics/rho{{overlap}}_{{encoder}}.csv",
            overlap=[overlap_tag(o) for o in H["overlaps"]],
            encoder=H["encoders"],
        ),
        paper=RESOURCES / "huang2021_table4_paper.csv",
    output:
        csv=f"{RESULTS}/tables/huang_table4.csv",
        md=f"{RESULTS}/tables/huang_table4.md",
        runs=f"{RESULTS}/tables/huang_table4_runs.csv",
    params:
        setting={k: H[k] for k in ("n_modalities", "dim", "n_train", "n_test")},
    log:
        f"{WORK}/logs/huang2021/table4.log",
    script:
        "../scripts/tabulate_huang.py"


rule huang2021_bayes_table:
    output:
        f"{RESULTS}/tables/bayes_risk_all_subsets.csv",
    params:
        generator=H["generator"],
        law={"n_modalities": H["n_modalities"], "dim": H["dim"]},
        overlaps=H["overlaps"],
    log:
        f"{WORK}/logs/huang2021/bayes_table.log",
    script:
        "../scripts/bayes_table.py"


rule huang2021_plot:
    input:
        table=f"{RESULTS}/tables/huang_table4.csv",
    output:
        report(
            f"{RESULTS}/figures/huang_mse_vs_overlap.png",
            caption="../report/huang_mse_vs_overlap.rst",
            category="Huang et al. 2021",
        ),
    params:
        generator=H["generator"],
        law={"n_modalities": H["n_modalities"], "dim": H["dim"]},
    log:
        f"{WORK}/logs/huang2021/plot.log",
    script:
        "../scripts/plot_huang.py"
