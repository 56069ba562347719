"""Pool mode's input: pool specs and CSV pools read lazily."""

from __future__ import annotations

from pathlib import Path

import pytest

from stream_al.data.pools import iter_csv_pool, parse_pool


def test_parse_pool_names_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no such pool file"):
        parse_pool(f"csv:{tmp_path / 'missing.csv'}")
    with pytest.raises(ValueError, match="csv:PATH or topic:NAME"):
        parse_pool("s3://bucket/pool")
    assert parse_pool("topic:t").kind == "topic"


def test_csv_pool_types_values_drops_the_label_and_keeps_ids(tmp_path: Path) -> None:
    path = tmp_path / "pool.csv"
    path.write_text("id,x,colour,label\na,1.5,red,1\nb,,blue,0\nc,nan,,1\n")
    rows = list(iter_csv_pool(path, drop=["label"]))
    assert rows == [("a", {"x": 1.5, "colour": "red"}), ("b", {"colour": "blue"}), ("c", {})]
    no_ids = tmp_path / "noid.csv"
    no_ids.write_text("x\n1\n2\n")
    assert [i for i, _ in iter_csv_pool(no_ids)] == ["pool:noid:1", "pool:noid:2"]


def test_csv_pool_errors_say_where(tmp_path: Path) -> None:
    path = tmp_path / "pool.csv"
    path.write_text("id,x\na,1\nb,2,3\n")
    with pytest.raises(ValueError, match=r"pool.csv:3: 3 cells, the header has 2"):
        list(iter_csv_pool(path))
    with pytest.raises(ValueError, match="column 'label' is not in"):
        list(iter_csv_pool(path, drop=["label"]))
    with pytest.raises(ValueError, match="id column 'key' is not in"):
        list(iter_csv_pool(path, id_column="key"))
