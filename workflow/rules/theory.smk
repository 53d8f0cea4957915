# The theory study (Huang et al. 2021): eta, gamma_S, sample-size fractions, the linear case.


rule theory_data:
    localrule: True  # seconds of work: never worth a cluster job
    output:
        f"{THEORY_WORK}/data/{{task}}_rho{{overlap}}.npz",
    params:
        law=theory_law_params,
        seeds=THEORY["seeds"],
        n_max=THEORY["n_max"],
        n_eval=THEORY["n_eval"],
    conda:
        "../envs/mmtheory.yaml"
    log:
        f"{WORK}/logs/theory/data_{{task}}_rho{{overlap}}.log",
    script:
        "../scripts/theory_data.py"


rule theory_truth:
    output:
        f"{THEORY_WORK}/truth/classification_rho{{overlap}}.csv",
    params:
        law=theory_classification_params,
        seed=config["ground_truth"]["seed"],
        halfwidth=THEORY["truth_halfwidth"],
        max_samples=config["ground_truth"]["max_samples"],
    conda:
        "../envs/mmtheory.yaml"
    log:
        f"{WORK}/logs/theory/truth_rho{{overlap}}.log",
    script:
        "../scripts/theory_truth.py"


rule theory_train:
    input:
        f"{THEORY_WORK}/data/{{task}}_rho{{overlap}}.npz",
    output:
        f"{THEORY_WORK}/runs/{{task}}_rho{{overlap}}_{{encoder}}.pt",
    params:
        law=theory_law_params,
        fractions=THEORY["fractions"],
        n_max=THEORY["n_max"],
        n_eval=THEORY["n_eval"],
        val_fraction=THEORY["val_fraction"],
        width=THEORY["width"],
        train=THEORY["train"],
        device=config["device"],
    threads: config["train_threads"]
    resources:
        mem_mb=1500,  # peak RSS measured on the default study, rounded up
    conda:
        "../envs/mmtheory.yaml"
    log:
        f"{WORK}/logs/theory/train_{{task}}_rho{{overlap}}_{{encoder}}.log",
    benchmark:
        f"{WORK}/benchmarks/theory/train_{{task}}_rho{{overlap}}_{{encoder}}.tsv"
    script:
        "../scripts/theory_train.py"


rule theory_evaluate:
    input:
        data=f"{THEORY_WORK}/data/{{task}}_rho{{overlap}}.npz",
        runs=f"{THEORY_WORK}/runs/{{task}}_rho{{overlap}}_{{encoder}}.pt",
        truth=theory_truth_input,
    output:
        f"{THEORY_WORK}/metrics/{{task}}_rho{{overlap}}_{{encoder}}.csv",
    params:
        law=theory_law_params,
        n_max=THEORY["n_max"],
        n_eval=THEORY["n_eval"],
        val_fraction=THEORY["val_fraction"],
    threads: config["train_threads"]
    resources:
        mem_mb=10000,  # peak RSS measured on the default study, rounded up
    conda:
        "../envs/mmtheory.yaml"
    log:
        f"{WORK}/logs/theory/evaluate_{{task}}_rho{{overlap}}_{{encoder}}.log",
    benchmark:
        f"{WORK}/benchmarks/theory/evaluate_{{task}}_rho{{overlap}}_{{encoder}}.tsv"
    script:
        "../scripts/theory_evaluate.py"


rule theory_tables:
    localrule: True  # seconds of work: never worth a cluster job
    input:
        metrics=study_metrics()["theory"],
    output:
        [f"{RESULTS}/tables/{t}.md" for t in THEORY_TABLES],
        [
            report(f"{RESULTS}/tables/{t}.csv", caption="../report/table.rst", category="Tables")
            for t in THEORY_TABLES
        ],
        runs=f"{RESULTS}/tables/theory_runs.csv",
    params:
        k=theory_n_modalities(),
    conda:
        "../envs/mmtheory.yaml"
    log:
        f"{WORK}/logs/theory/tables.log",
    script:
        "../scripts/theory_tables.py"


rule theory_plots:
    localrule: True  # seconds of work: never worth a cluster job
    input:
        runs=f"{RESULTS}/tables/theory_runs.csv",
        gamma=f"{RESULTS}/tables/table2_gamma.csv",
    output:
        eta=report(
            f"{RESULTS}/figures/eta_vs_overlap.png",
            caption="../report/eta_vs_overlap.rst",
            category="Theory study",
        ),
        accuracy=report(
            f"{RESULTS}/figures/accuracy_vs_fraction.png",
            caption="../report/accuracy_vs_fraction.rst",
            category="Theory study",
        ),
        gamma=report(
            f"{RESULTS}/figures/gamma_vs_fraction.png",
            caption="../report/gamma_vs_fraction.rst",
            category="Theory study",
        ),
    conda:
        "../envs/mmtheory.yaml"
    log:
        f"{WORK}/logs/theory/plots.log",
    script:
        "../scripts/theory_plots.py"


rule results_readme:
    localrule: True  # seconds of work: never worth a cluster job
    input:
        huang=f"{RESULTS}/tables/huang_table4.csv",
        truth=f"{RESULTS}/tables/ground_truth.md",
        imbalance=f"{RESULTS}/tables/imbalance.md",
        gradients=f"{RESULTS}/tables/gradients.md",
        theory=[f"{RESULTS}/tables/{t}.md" for t in THEORY_TABLES],
        figures=[p for p in all_outputs() if p.endswith(".png")],
        tables=[p for p in all_outputs() if p.endswith(".md") and not p.endswith("README.md")],
    output:
        f"{RESULTS}/README.md",
    conda:
        "../envs/mmtheory.yaml"
    log:
        f"{WORK}/logs/results_readme.log",
    script:
        "../scripts/results_readme.py"
