"""One rule for a CSV's ``id`` column in every command that reads a CSV (evaluate, demo,
warm start, produce, select): it is the item's id, never a feature; and a CSV that breaks
a rule (no rows, a column named twice, a row of another length, not UTF-8) is a clean
exit 2 that names the file and the line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stream_al.cli.main import main
from stream_al.data.histories import load_history, parse_warm_start
from stream_al.data.produce import replay
from stream_al.data.streams import parse_stream


def _write(path: Path, with_id: bool, rows: int = 1500, start: int = 0) -> Path:
    """A learnable stream; with ``with_id``, an ``id`` column that says nothing of the
    class (a feature-reader would split on it and learn noise)."""
    lines = ["id,a,b,class" if with_id else "a,b,class"]
    for i in range(start, start + rows):
        a, b = (i * 37 % 100) / 100, (i * 61 % 100) / 100
        cells = [f"{a}", f"{b}", str(int(a + b > 1))]
        lines.append(",".join([f"{9000 + i}", *cells] if with_id else cells))
    path.write_text("\n".join(lines) + "\n")
    return path


def _evaluate(tmp_path: Path, stream: Path, *extra: str) -> dict:
    out = tmp_path / "report.json"
    args = ["evaluate", "--stream", f"csv:{stream}", "--target", "class", "--seeds", "1"]
    assert main([*args, *extra, "--quiet", "--json", str(out)]) == 0
    return json.loads(out.read_text())


def test_evaluate_does_not_learn_from_the_id_column(tmp_path: Path) -> None:
    plain = _evaluate(tmp_path, _write(tmp_path / "plain.csv", with_id=False))
    with_id = _evaluate(tmp_path, _write(tmp_path / "ids.csv", with_id=True))
    for key in ("accuracy", "labels", "baseline", "full_labels"):
        assert with_id[key] == plain[key], key


def test_a_csv_warm_start_does_not_learn_from_the_id_column(tmp_path: Path) -> None:
    history = _write(tmp_path / "history.csv", with_id=True, rows=20)
    loaded = load_history(parse_warm_start(f"csv:{history}", "class"))
    assert len(loaded.examples) == 20
    assert all(set(x) == {"a", "b"} for x, _ in loaded.examples)


def test_demo_does_not_learn_from_the_id_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = []
    for name, with_id in (("plain", False), ("ids", True)):
        stream = _write(tmp_path / "x.csv", with_id)
        args = ["demo", "--stream", f"csv:{stream}", "--target", "class", "--no-plot"]
        assert main([*args, "--quiet"]) == 0, name
        table = capsys.readouterr().out.split("loop time")[0]  # the time differs
        outputs.append(table)
    assert outputs[0] == outputs[1]


def test_produce_sends_the_id_column_as_the_event_id_and_not_as_a_feature(
    tmp_path: Path,
) -> None:
    spec = parse_stream(f"csv:{_write(tmp_path / 'ids.csv', True, rows=3)}", target="class")
    assert all("id" not in x for x, _ in spec.events())
    sent: list[tuple[str, str]] = []
    replay(spec.events(), lambda k, v: sent.append((k, v)), ids=spec.ids())
    assert [k for k, _ in sent] == ["9000", "9001", "9002"]
    assert [json.loads(v)["id"] for _, v in sent] == ["9000", "9001", "9002"]
    assert all(set(json.loads(v)["features"]) == {"a", "b"} for _, v in sent)


def test_the_help_of_every_command_that_reads_a_csv_states_the_id_rule(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for command in (["evaluate"], ["demo"], ["produce"], ["select"], ["serve"]):
        with pytest.raises(SystemExit):
            main([*command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "is the item id, never a feature" in text, command


BAD_CSVS = {
    "a header and no rows": (b"id,a,b,class\n", "has a header but no rows"),
    "a column named twice": (b"a,a,class\n1,2,0\n", "column 'a' appears twice in the header"),
    "a column without a name": (b"a,,class\n1,2,0\n", "column 2 of the header has no name"),
    "a row a cell short": (b"a,b,class\n1,2,0\n3,4\n", ":3: 2 cells, the header has 3"),
    "a row a cell long": (b"a,b,class\n1,2,0\n3,4,1,5\n", ":3: 4 cells, the header has 3"),
    "an open quote": (b'a,b,class\n1,2,0\n"3,4,1\n5,6,0\n', ":4: 1 cell, the header has 3"),
    "not UTF-8": (b"a,b,class\n1,2,\xff\n", "is not UTF-8 text (it has the byte 0xff)"),
}


@pytest.mark.parametrize("kind", BAD_CSVS)
@pytest.mark.parametrize(
    "command",
    [
        ["evaluate", "--stream", "csv:BAD", "--target", "class"],
        ["demo", "--stream", "csv:BAD", "--target", "class", "--no-plot"],
        ["evaluate", "--stream", "synth:stagger", "--warm-start", "csv:BAD"],
        ["produce", "--stream", "csv:BAD", "--target", "class"],
        ["select", "--pool", "csv:BAD", "--k", "1"],
    ],
)
def test_a_csv_that_breaks_a_rule_is_a_clean_exit_2_naming_the_line_and_what_to_fix(
    kind: str,
    command: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Read as they were, a short row handed a feature's value to the label, a column named
    # twice lost one of the two, and produce failed at the bad row, the rows before it sent
    # (here it fails before it connects to Kafka).
    monkeypatch.setenv("STREAM_AL_CHECKPOINT__KEY", "a-key-of-some-length")
    content, says = BAD_CSVS[kind]
    bad = tmp_path / "bad.csv"
    bad.write_bytes(content)
    args = [a.replace("BAD", str(bad)) for a in command]
    if "--warm-start" in args:
        args += ["--target", "class", "--n-events", "100"]
    assert main(args) == 2, kind
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert str(bad) in err and says in err, err


def test_a_byte_order_mark_is_not_part_of_the_first_column_name(tmp_path: Path) -> None:
    plain = _write(tmp_path / "plain.csv", with_id=False, rows=50)
    marked = tmp_path / "marked.csv"
    marked.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    read = [list(parse_stream(f"csv:{p}", target="class").events()) for p in (plain, marked)]
    assert read[0] == read[1] and set(read[1][0][0]) == {"a", "b"}


@pytest.mark.parametrize(
    "command",
    [
        ["evaluate", "--stream", "csv:IDS", "--target", "class"],
        ["demo", "--stream", "csv:IDS", "--target", "class", "--no-plot"],
        ["evaluate", "--stream", "synth:stagger", "--warm-start", "csv:IDS", "--target", "class"],
        ["produce", "--stream", "csv:IDS", "--target", "class"],
    ],
)
def test_a_label_column_with_more_classes_than_a_model_learns_is_refused_before_the_work(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # An id column named as the label: every label a class (the learner refuses the
    # 1,001st; evaluate failed after two of its three runs).
    ids = tmp_path / "ids.csv"
    ids.write_text("a,class\n" + "".join(f"{i % 7},c{i}\n" for i in range(1_001)))
    assert main([a.replace("IDS", str(ids)) for a in command]) == 2
    err = capsys.readouterr().err
    assert "column 'class'" in err and "more than 1,000 classes" in err and "an id" in err


@pytest.mark.parametrize(
    "command",
    [
        ["evaluate", "--stream", "csv:LONG", "--target", "class"],
        ["demo", "--stream", "csv:LONG", "--target", "class", "--no-plot"],
        ["produce", "--stream", "csv:LONG", "--target", "class"],
    ],
)
def test_a_label_no_model_learns_is_refused_before_the_work_naming_its_row(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # evaluate failed mid-run ("failed: InvalidLabel"), and produce would have sent events
    # whose labels serve can only dead-letter.
    long = tmp_path / "long.csv"
    long.write_text("a,class\n1,yes\n2,no\n3," + "x" * 300 + "\n")
    assert main([a.replace("LONG", str(long)) for a in command]) == 2
    err = capsys.readouterr().err
    assert "row 3, column 'class'" in err and "at most 256 characters, got 300" in err
