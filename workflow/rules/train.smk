# Training and evaluation: one job per cell of a study (a cell trains one or more stacks of
# models; see each study's `cells()`), then its per-model metrics.

#: Peak resident memory of each study's jobs, measured on the default study, rounded up (MB).
TRAIN_MEM_MB = {"huang2021": 1500, "main": 2000, "theory": 1500}
EVALUATE_MEM_MB = {"huang2021": 6000, "main": 4000, "theory": 10000}


rule train:
    input:
        cell_inputs,
    output:
        runs_path("{study}", "{cell}"),
    params:
        job=lambda w: CELLS[w.study][w.cell],
        fingerprint=lambda w: repr(CELLS[w.study][w.cell]),
        device=config["device"],
    threads: config["train_threads"]
    resources:
        mem_mb=lambda w: TRAIN_MEM_MB[w.study],
    conda:
        "../envs/mmtheory.yaml"
    log:
        f"{WORK}/logs/{{study}}/train_{{cell}}.log",
    benchmark:
        f"{WORK}/benchmarks/{{study}}/train_{{cell}}.tsv"
    script:
        "../scripts/train.py"


rule evaluate:
    input:
        data=cell_inputs,
        runs=runs_path("{study}", "{cell}"),
        extra=evaluation_extra,
    output:
        metrics_path("{study}", "{cell}"),
    params:
        job=lambda w: CELLS[w.study][w.cell],
        fingerprint=lambda w: repr(CELLS[w.study][w.cell]),
    threads: config["train_threads"]
    resources:
        mem_mb=lambda w: EVALUATE_MEM_MB[w.study],
    conda:
        "../envs/mmtheory.yaml"
    log:
        f"{WORK}/logs/{{study}}/evaluate_{{cell}}.log",
    benchmark:
        f"{WORK}/benchmarks/{{study}}/evaluate_{{cell}}.tsv"
    script:
        "../scripts/evaluate.py"
