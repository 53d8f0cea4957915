"""results/README.md: headline findings computed from the tables, and links (rule results_readme)."""

from pathlib import Path

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.pipeline.io import read_table, write_text
from dgl.pipeline.job import start_job
from dgl.report.markdown import results_readme
from dgl.studies.huang2021 import huang_findings

sm = snakemake  # noqa: F821  (injected by Snakemake)
start_job(sm.log[0])


def findings(path: str, heading: str) -> list[str]:
    """The computed finding lines under ``heading`` of a pipeline-written Markdown table."""
    lines, inside = [], False
    for line in Path(path).read_text().splitlines():
        if line.startswith("## "):
            inside = line.strip() == heading
        elif inside and line.lstrip().startswith("- "):  # sub-items (e.g. losses) too
            lines.append(line)
    return lines


def headline(path: str) -> str:
    """The computed prediction line of a theory table (its first paragraph)."""
    return Path(path).read_text().split("\n\n")[1].strip()


sections = {
    "Huang et al. 2021, Table 4 (regression)": huang_findings(read_table(sm.input.huang)),
    "Ground truth of the generators": findings(sm.input.truth, "## Checks"),
    "Main study: methods x overlap x sample size": findings(sm.input.main, "## Findings")
    + findings(sm.input.gradients, "## Findings"),
    "Theory study": [f"- {headline(p)} ([{Path(p).stem}](tables/{Path(p).name}))"
                     for p in sm.input.theory],
}
root = Path(sm.output[0]).parent
links = [(str(Path(p).relative_to(root)), str(Path(p).relative_to(root)))
         for p in sorted(list(sm.input.tables) + list(sm.input.figures))]
write_text(sm.output[0], results_readme(sections, links))
