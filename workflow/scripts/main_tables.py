"""Tables of the main study and of the gradient norms (rule main_tables)."""

import polars as pl

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.pipeline.io import read_intermediate, write_csv, write_text
from dgl.pipeline.job import start_job
from dgl.studies import main
from dgl.studies.common import check_rows, with_cap_flag

sm = snakemake  # noqa: F821  (injected by Snakemake)
start_job(sm.log[0])
metrics = with_cap_flag(pl.concat([read_intermediate(p) for p in sm.input.metrics],
                                   how="diagonal_relaxed"), sm.params.train)
check_rows(metrics, sm.params.rows, "main per-model metrics")
truth = pl.concat([read_intermediate(p) for p in sm.input.truth])
gradients = pl.concat([read_intermediate(p) for p in sm.input.gradients], how="diagonal_relaxed")
chosen = main.chosen_models(metrics)
weak = main.weak_modalities(truth)
tables = {"main_laziness": main.laziness_table(chosen, truth),
          "main_methods": main.methods_table(chosen, truth),
          "main_paired": main.paired_table(chosen, truth),
          "main_pid_prediction": main.pid_prediction(chosen, truth),
          "gradients": main.gradient_table(gradients, chosen)}
for path in sm.output:
    for name, table in tables.items():
        if path.endswith(f"/{name}.csv"):
            write_csv(table, path, digits=5)
write_csv(main.with_truth(metrics, truth), sm.output.runs, digits=5)
write_text(sm.output.md, main.main_markdown(tables["main_laziness"], tables["main_methods"],
                                            tables["main_paired"],
                                            tables["main_pid_prediction"], weak))
write_text(sm.output.gradients_md, main.gradient_markdown(tables["gradients"], weak))
