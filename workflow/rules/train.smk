# Training and evaluation: one job per cell of a study (a cell trains one or more stacks of
# models; see each study's `cells()`), then its per-model metrics.

#: Peak resident memory of each study's jobs (MB), plus about 20 %: the exact peak of the
#: largest job of each kind in the default study (/usr/bin/time on the job's work alone;
#: Snakemake's benchmark samples the resident size and misses short peaks): train Huang 656,
#: main 1 139, theory 1 186; evaluate Huang 1 270, main 1 114, theory 1 309 (classification);
#: the largest process of a whole clean-clone run peaked at 1 325 MB (1 331 MB at 9f82ae6,
#: whose jobs keep freed memory: dgl.train.heap; sampled peaks there: evaluate Huang 1 283,
#: main 1 068, theory 1 207; train 480, 995, 794). The Huang evaluation
#: keeps room for the full grid (workflow/profiles/gpu/full_grid.yaml: 1 950 sampled there);
#: the full grid's other peaks were not measured again.
TRAIN_MEM_MB = {"huang2021": 800, "main": 1400, "theory": 1400}
EVALUATE_MEM_MB = {"huang2021": 2400, "main": 1400, "theory": 1600}


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
        device=config["eval_device"],
    threads: config["train_threads"]
    priority: 1  # a cell's evaluation before another cell's training: it finishes the chain
    resources:
        mem_mb=lambda w: EVALUATE_MEM_MB[w.study],
        gpu=int(config["eval_device"] != "cpu"),  # probes on the GPU: in turn with training
    conda:
        "../envs/mmtheory.yaml"
    log:
        f"{WORK}/logs/{{study}}/evaluate_{{cell}}.log",
    benchmark:
        f"{WORK}/benchmarks/{{study}}/evaluate_{{cell}}.tsv"
    script:
        "../scripts/evaluate.py"
