# Huang et al. (NeurIPS 2021) Table 4: tables and figure from the per-model metrics.


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
        setting=HUANG.setting(),
        train=HUANG.train,  # the budget the convergence flag is read against
        rows=sum(cell.expected_rows() for cell in CELLS["huang2021"].values()),
    conda:
        "../envs/mmtheory.yaml"
    log:
        f"{WORK}/logs/huang2021/table4.log",
    script:
        "../scripts/huang2021_table4.py"


rule huang2021_bayes_table:
    localrule: True  # seconds of work: never worth a cluster job
    output:
        f"{RESULTS}/tables/bayes_risk_all_subsets.csv",
    params:
        law=HUANG.law,
        fingerprint=repr(HUANG.law),
        overlaps=list(HUANG.overlaps),
    conda:
        "../envs/mmtheory.yaml"
    log:
        f"{WORK}/logs/huang2021/bayes_table.log",
    script:
        "../scripts/huang2021_bayes_table.py"


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
        law=HUANG.law,
        fingerprint=repr(HUANG.law),
    conda:
        "../envs/mmtheory.yaml"
    log:
        f"{WORK}/logs/huang2021/plot.log",
    script:
        "../scripts/huang2021_plot.py"
