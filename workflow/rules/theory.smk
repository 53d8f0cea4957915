# The theory study (Huang et al. 2021): tables, figures, and the results README.


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
        k=THEORY.n_modalities(),
        equal_margin=THEORY.equal_margin,
        theorem1_k=THEORY.theorem1_k,
        train=THEORY.train,  # the budget the convergence flag is read against
        rows=sum(cell.expected_rows() for cell in CELLS["theory"].values()),
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
        main=f"{RESULTS}/tables/main.md",
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
