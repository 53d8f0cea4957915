"""Intermediates carry a record (sha256, bytes, rows) written with them; a reader that finds
the file truncated, edited or without its record stops, naming the file and saying to delete
it and rerun."""

import numpy as np
import polars as pl
import pytest

from dgl.pipeline.io import (IntermediateError, load_datasets, read_intermediate, record,
                             save_datasets, verify, write_intermediate)
from synth.datasets import Datasets


def _truncate(path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def test_a_truncated_table_is_named_and_refused(tmp_path):
    path = tmp_path / "metrics.csv"
    frame = pl.DataFrame({"seed": list(range(40)), "eta": np.linspace(0, 1, 40)})
    write_intermediate(frame, path)
    assert read_intermediate(path).equals(frame)
    _truncate(path)
    with pytest.raises(IntermediateError, match="truncated or edited") as err:
        read_intermediate(path)
    assert str(path) in str(err.value) and "40 rows" in str(err.value)
    assert f"Delete {path} and rerun" in str(err.value)


def test_an_edited_table_of_the_same_size_is_refused(tmp_path):
    path = tmp_path / "metrics.csv"
    write_intermediate(pl.DataFrame({"eta": [0.25, 0.5]}), path)
    path.write_text(path.read_text().replace("0.25", "0.75"))
    with pytest.raises(IntermediateError, match="differ"):
        read_intermediate(path)


def test_a_truncated_dataset_is_refused(tmp_path):
    path = tmp_path / "data.npz"
    rng = np.random.default_rng(0)
    save_datasets(path, Datasets(rng.standard_normal((2, 50, 3)).astype(np.float32),
                                 rng.integers(0, 2, (2, 50)), ((0.0, 0), (0.0, 1))))
    load_datasets([path])
    _truncate(path, 0.9)
    with pytest.raises(IntermediateError, match="data.npz"):
        load_datasets([path])


def test_a_file_without_its_record_is_refused(tmp_path):
    path = tmp_path / "planted.csv"
    path.write_text("seed,eta\n0,0.1\n")
    with pytest.raises(IntermediateError, match="no record"):
        read_intermediate(path)
    record(path, 1)
    verify(path)


def test_published_tables_count_their_rows_against_the_grid():
    """The per-model rows a table is built from must be the grid's: a doubled or partial set
    is refused, naming the table."""
    from dgl.studies.common import check_rows

    frame = pl.DataFrame({"seed": [0, 1, 2]})
    assert check_rows(frame, 3, "t") is frame
    with pytest.raises(ValueError, match="main per-model metrics: 6 per-model rows"):
        check_rows(pl.concat([frame, frame]), 3, "main per-model metrics")


def test_every_study_counts_the_rows_its_grid_makes():
    """The expected rows of the default config equal the rows of the committed runs tables
    (independently: the tables were written from the metrics files)."""
    from pathlib import Path

    import yaml

    from dgl.studies.huang2021 import Huang2021
    from dgl.studies.main import MainStudy
    from dgl.studies.theory import Theory

    root = Path(__file__).resolve().parents[1]
    cfg = yaml.safe_load((root / "config.yaml").read_text())
    for cls, key, table in ((MainStudy, "main", "main_runs"), (Theory, "theory", "theory_runs"),
                            (Huang2021, "huang2021", "huang_table4_runs")):
        expected = sum(c.expected_rows() for c in cls.from_config(cfg[key]).cells())
        assert pl.read_csv(root / "results/tables" / f"{table}.csv").height == expected
