# Training and evaluation: one job per cell of a study (a cell trains one or more stacks of
# models; see each study's `cells()`), then its per-model metrics.

#: Peak resident memory of each study's jobs (MB), plus about 20 %: the largest max_rss in
#: work/benchmarks/ of a clean-clone default run (train: Huang 632, main 1 343, theory 989;
#: evaluate: Huang 1 120, main 1 417) and of the full grid (workflow/profiles/gpu/full_grid.yaml:
#: Huang evaluation 1 950); the benchmark samples, so for the theory evaluation the exact peak
#: of its largest job (/usr/bin/time: reversal 2 453).
TRAIN_MEM_MB = {"huang2021": 800, "main": 1600, "theory": 1300}
EVALUATE_MEM_MB = {"huang2021": 2400, "main": 2200, "theory": 3200}


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
