# Data and exact ground truth: every study's data files and classification ground truth, drawn
# and computed from the generators' laws.


rule data:
    localrule: True  # seconds of work: never worth a cluster job
    # Scheduled before anything else: each takes seconds and unlocks a training cell. Left at
    # the default priority, a dataset was drawn 17 minutes into an 18:41 run, and its cell's
    # training and evaluation then ran alone at the end (the tail; see the README).
    priority: 20
    output:
        f"{WORK}/{{study}}/data/{{name}}.npz",
    params:
        job=lambda w: DATASETS[w.study][w.name],
        fingerprint=lambda w: repr(DATASETS[w.study][w.name]),
    conda:
        "../envs/mmtheory.yaml"
    log:
        f"{WORK}/logs/{{study}}/data_{{name}}.log",
    script:
        "../scripts/data.py"


rule classification_truth:
    output:
        subsets=truth_path("{job}"),
        pid=truth_path("{job}", "pid"),
    params:
        job=lambda w: TRUTH_JOBS[w.job],
        fingerprint=lambda w: repr(TRUTH_JOBS[w.job]),
    conda:
        "../envs/mmtheory.yaml"
    log:
        f"{WORK}/logs/truth/{{job}}.log",
    benchmark:
        f"{WORK}/benchmarks/truth/{{job}}.tsv"
    script:
        "../scripts/classification_truth.py"
