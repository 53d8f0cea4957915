"""Markdown of the pipeline's tables: number formatting, grids and the results README.

Numbers are printed by :func:`number`, which never prints a negative zero: a value that
rounds to zero at the printed precision is printed unsigned, so float noise around zero (a
gamma of -1e-12 at overlap 1) cannot change a table from one run to the next.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl


def number(value: float | None, digits: int) -> str:
    """``value`` with ``digits`` decimals; '-0.00' is printed '0.00'; no value (a number
    of diverged models only) '–'."""
    if value is None:
        return "–"
    text = f"{value:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def signed(value: float | None, digits: int) -> str:
    """``value`` with ``digits`` decimals and its sign ('+0.00' for anything that rounds to
    zero, whatever its sign; '–' for no value)."""
    text = number(value, digits)
    return text if text.startswith(("-", "–")) else "+" + text


def pm(mean: float | None, std: float | None, digits: int = 2) -> str:
    """'mean ± std' ('–' without a mean; the mean alone without a std)."""
    if mean is None:
        return "–"
    if std is None:
        return number(mean, digits)
    return f"{number(mean, digits)} ± {number(std, digits)}"


def frame_markdown(frame: pl.DataFrame, digits: int = 4) -> str:
    """A Markdown table of a frame (floats to ``digits`` decimals, nulls as '–')."""
    def cell(v):
        if v is None:
            return "–"
        if isinstance(v, float):
            return number(v, digits)
        return str(v)
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.iter_rows()]
    return "\n".join(lines)


def grid_table(frame: pl.DataFrame, row_keys: list[str], cell: Callable[[dict], str]
               ) -> list[str]:
    """Markdown table: one row per distinct ``row_keys`` combination, one column per overlap,
    cells formatted by ``cell(row_dict)``."""
    overlaps = sorted(frame["overlap"].unique())
    lines = ["| " + " | ".join(row_keys) + " | " + " | ".join(f"ρ = {o:g}" for o in overlaps)
             + " |", "|" + "---|" * (len(row_keys) + len(overlaps))]
    for keys in frame.select(row_keys).unique(maintain_order=True).iter_rows():
        sel = frame.filter(pl.all_horizontal([pl.col(k) == v for k, v in zip(row_keys, keys)]))
        cells = []
        for o in overlaps:
            hit = sel.filter(pl.col("overlap") == o)
            cells.append(cell(hit.row(0, named=True)) if hit.height else "–")
        lines.append("| " + " | ".join(str(k) for k in keys) + " | " + " | ".join(cells) + " |")
    return lines


def results_readme(lines_by_section: dict[str, list[str]], links: list[tuple[str, str]]) -> str:
    """results/README.md: headline findings (sentences computed from the tables) and links."""
    out = ["# Results", "",
           "Written by the pipeline (`snakemake --cores all`); every sentence below is computed "
           "from the tables it links, none is typed by hand.", ""]
    for section, lines in lines_by_section.items():
        out += [f"## {section}", "", *lines, ""]
    out += ["## Files", ""] + [f"- [{name}]({path})" for name, path in links]
    return "\n".join(out) + "\n"
