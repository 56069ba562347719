from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stream_al.cli.main import main
from stream_al.config import Settings
from stream_al.core.strategies import STRATEGIES

REPORT_KEYS = {
    "stream",
    "n_events",
    "model",
    "strategy",
    "budget",
    "seeds",
    "accuracy",
    "accuracy_ci95",
    "label_fraction",
    "labels",
    "drifts",
    "us_per_event",
    "baseline",
    "full_labels",
    "curve",
}


def _csv(tmp_path: Path) -> Path:
    path = tmp_path / "small.csv"
    rows = ["a,b,class"] + [f"{i % 7},{(i * 3) % 5},{int(i % 7 > 3)}" for i in range(600)]
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize(
    ("args", "fix"),
    [
        (["--stream", "csv:/no/such/file.csv", "--target", "class"], "no such file"),
        (["--stream", "csv:/tmp", "--target", "class"], "/tmp: is not a file"),
        (["--stream", "synth:sea-drift", "--strategy", "greedy"], "unknown strategy 'greedy'"),
        (["--stream", "synth:sea-drift", "--budget", "0"], "budget must be a fraction in (0, 1]"),
        (["--stream", "synth:sea-drift", "--budget", "1.5"], "budget must be a fraction"),
        (["--stream", "synth:sea-drift", "--budget", "ten"], "budget must be a fraction"),
        (["--stream", "CSV", "--target", "label"], "target column 'label' is not in"),
        (["--stream", "synth:sea-drift", "--seeds", "0"], "must be at least 1"),
        (["--stream", "synth:sea-drift", "--drift-boost", "0.5"], "factor >= 1"),
        (["--stream", "synth:sine"], "unknown synthetic stream"),
        (["--stream", "synth:sea-drift", "--strategy-param", "k"], "expected NAME=VALUE"),
        (["--stream", "synth:sea-drift", "--strategy-param", "k="], "expected NAME=VALUE"),
        (["--stream", "synth:sea-drift", "--strategy-param", "foo=1"], "has no parameter foo"),
        (
            ["--stream", "synth:sea-drift", "--strategy", "bandit", "--strategy-param", "arms=2"],
            "arms is a list of strategy names",
        ),
        (["--stream", "synth:sea-drift", "--density", "-1"], "must be >= 0"),
        (["--stream", "synth:sea-drift", "--imbalance", "nan"], "must be a finite number"),
        (["--stream", "synth:sea-drift", "--imbalance", "inf"], "must be a finite number"),
        (["--stream", "synth:sea-drift", "--strategy-param", "k=inf"], "k must be a finite number"),
        (
            [
                "--stream",
                "synth:sea-drift",
                "--strategy",
                "split",
                "--strategy-param",
                "stratified=1,",
            ],
            "an empty name in 'stratified=1,'",
        ),
        (
            [
                "--stream",
                "synth:sea-drift",
                "--strategy",
                "split",
                "--strategy-param",
                "stratified=no",
            ],
            "stratified is true or false (1 or 0), got 'no'",
        ),
        (
            ["--stream", "synth:sea-drift", "--strategy", "bandit", "--strategy-param", "arms=x,y"],
            "unknown strategy 'x'",
        ),
        (["--stream", "synth:sea-drift", "--json", "."], "'.' is a directory"),
        (["--stream", "synth:sea-drift", "--plot", "/etc/hostname/x.png"], "cannot write"),
        (["--stream", "synth:sea-drift", "--stop-after", "-3"], "must be at least 0"),
    ],
)
def test_bad_input_gives_one_line_that_says_what_to_fix_and_exit_code_2(
    args: list[str], fix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [str(_csv(tmp_path)) if a == "CSV" else a for a in args]
    args = [f"csv:{a}" if a.endswith("small.csv") else a for a in args]
    with pytest.raises(SystemExit) as exc_info:
        raise SystemExit(main(["evaluate", *args]))
    assert exc_info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert fix in err
    assert err.startswith("stream-al evaluate: error:")


@pytest.mark.parametrize(
    ("args", "fix"),
    [
        (["status", "--url", "127.0.0.1:9400"], "expected an http:// URL"),
        (["produce", "--stream", "synth:sea-drift", "--truth", ""], "'' is empty"),
        (["produce", "--stream", "synth:sea-drift", "--rate", "0"], "must be > 0"),
        (["produce", "--stream", "synth:sea-drift", "--rate", "-1"], "must be > 0"),
        (["produce", "--stream", "synth:sea-drift", "--topic", "a b"], "no Kafka topic name"),
        (["worker", "--oracle", "file:x.csv", "--idle-exit", "-1"], "must be >= 0"),
        (["demo", "--plot", "."], "'.' is a directory"),
        (["bench", "engine", "--json", "."], "'.' is a directory"),
        (["model", "export", "--out", "/etc/hostname/m.salm"], "cannot write"),
    ],
)
def test_bad_flags_of_every_command_exit_2_before_any_work(
    args: list[str], fix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """An output path, a URL, a rate: refused at once, not after the work (or a file
    written somewhere else: matplotlib added .png to a directory's name)."""
    with pytest.raises(SystemExit) as exc_info:
        main(args)
    assert exc_info.value.code == 2
    assert fix in capsys.readouterr().err


def test_bad_environment_setting_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STREAM_AL_LEARNER__BUDGET", "2")
    assert main(["strategies"]) == 2
    assert "STREAM_AL_" in capsys.readouterr().err


def test_evaluate_writes_the_report_and_a_plot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, png = tmp_path / "report.json", tmp_path / "curves.png"
    code = main(
        [
            "evaluate",
            "--stream",
            f"csv:{_csv(tmp_path)}",
            "--target",
            "class",
            "--model",
            "gaussian-nb",
            "--strategy",
            "split",
            "--budget",
            "0.2",
            "--seeds",
            "2",
            "--delay",
            "3",
            "--json",
            str(out),
            "--plot",
            str(png),
            "--quiet",
        ]
    )
    assert code == 0
    report = json.loads(out.read_text())
    assert set(report) >= REPORT_KEYS
    assert report["stream"].startswith("csv:") and report["seeds"] == 2
    assert report["n_events"] == 600 and report["delay"] == 3
    assert set(report["baseline"]) >= {"strategy", "accuracy", "label_fraction"}
    assert "accuracy" in report["full_labels"]
    assert all(len(point) == 3 for point in report["curve"])
    assert png.stat().st_size > 10_000
    assert "random" in capsys.readouterr().out


def test_demo_prints_its_summary(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    png = tmp_path / "demo.png"
    assert main(["demo", "--n-events", "3000", "--quiet", "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    this_run = f"{Settings().learner.strategy} (this run)"  # the default strategy
    for row in (this_run, "random, same budget", "full labels", "drifts detected"):
        assert row in out
    assert png.exists()


def test_bench_engine_writes_its_ratio(tmp_path: Path) -> None:
    out = tmp_path / "engine.json"
    code = main(
        ["bench", "engine", "--n-events", "2000", "--repeats", "1", "--quiet", "--json", str(out)]
    )
    assert code == 0
    result = json.loads(out.read_text())
    assert {"engine_events_per_s", "baseline_events_per_s", "ratio"} <= set(result)
    assert result["ratio"] == pytest.approx(
        result["engine_events_per_s"] / result["baseline_events_per_s"]
    )
    assert result["strategy"] == "variable-uncertainty"


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--backend", "confluent"], "--backend confluent"),
        (["--deployed"], "--deployed without --backend"),
    ],
)
def test_bench_throughput_without_confluent_kafka_says_what_to_install_before_any_work(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    flags: list[str],
    named: str,
) -> None:
    import stream_al.io

    monkeypatch.setitem(sys.modules, "confluent_kafka", None)  # import fails
    monkeypatch.delitem(sys.modules, "stream_al.io.kafka_confluent", raising=False)
    monkeypatch.delattr(stream_al.io, "kafka_confluent", raising=False)
    # no server is needed: the check comes before the events are produced
    monkeypatch.setenv("STREAM_AL_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:1")
    assert main(["bench", "throughput", "--events", "10", *flags]) == 2
    err = capsys.readouterr().err
    assert named in err
    assert "pip install -e '.[fast]'" in err
    assert "Traceback" not in err


def test_strategies_lists_every_strategy(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["strategies"]) == 0
    out = capsys.readouterr().out
    for name in STRATEGIES:
        assert name in out


def test_strategies_that_cannot_hold_the_budget_are_listed_apart_with_why(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["strategies"]) == 0
    listed, _, dropped = capsys.readouterr().out.partition("dropped")
    for name in ("fixed-uncertainty", "moving-average"):
        assert name not in listed and name in dropped
    assert "variable-uncertainty" in listed and "spends at most B" in dropped


def test_help_of_every_command_shows_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("demo", "evaluate", "bench", "strategies", "models"):
        with pytest.raises(SystemExit) as exc_info:
            main([command, "--help"])
        assert exc_info.value.code == 0
        assert f"stream-al {command}" in capsys.readouterr().out


def test_the_worker_s_help_names_every_oracle(capsys: pytest.CaptureFixture[str]) -> None:
    # Its description named file: and terminal only, as the README's four.
    with pytest.raises(SystemExit):
        main(["worker", "--help"])
    description = capsys.readouterr().out.split("options:")[0]
    for oracle in ("file:PATH", "terminal", "web", "label-studio"):
        assert oracle in description


def test_the_readme_tables_are_the_ones_the_code_generates() -> None:
    from stream_al.cli.reference import markdown_table, metric_rows, settings_rows

    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    for name, table in (
        ("settings", markdown_table(("variable", "default", "meaning"), settings_rows())),
        ("metrics", markdown_table(("metric", "type", "meaning"), metric_rows())),
    ):
        start = readme.index(f"<!-- {name}:begin -->") + len(f"<!-- {name}:begin -->")
        end = readme.index(f"<!-- {name}:end -->")
        assert readme[start:end].strip() == table, f"README {name} table: run stream-al {name}"


def test_evaluate_applies_and_reports_the_shaping_and_stopping_options(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    common = ["evaluate", "--stream", "synth:hyperplane", "--n-events", "6000", "--seeds", "1"]
    common += ["--strategy", "split"]  # random_fraction below is split's
    assert main([*common, "--quiet", "--json", str(out)]) == 0
    plain = json.loads(out.read_text())
    options = ["--imbalance", "1", "--cost-power", "0.5", "--label-free-drift"]
    options += ["--strategy-param", "random_fraction=0.8", "--stop-after", "200"]
    assert main([*common, *options, "--quiet", "--json", str(out)]) == 0
    shaped = json.loads(out.read_text())
    assert shaped["options"] == {
        "strategy_params": {"random_fraction": 0.8},
        "density_beta": 0.0,
        "imbalance": 1.0,
        "cost_power": 0.5,
        "stop_after": 200,
        "label_free_drift": True,
        "unit": "events",
    }
    # The options reach the learner: other labels bought, another accuracy.
    assert shaped["accuracy"] != plain["accuracy"]
    assert shaped["baseline"]["strategy"] == "random"


def test_evaluate_spends_a_cost_budget_from_a_cost_column(tmp_path: Path) -> None:
    path = tmp_path / "costs.csv"
    rows = ["a,b,price,class"]
    for i in range(2000):
        a, b = (i * 37 % 100) / 100, (i * 61 % 100) / 100
        rows.append(f"{a},{b},{5 if a > 0.66 else 1},{int(a + b > 1)}")
    path.write_text("\n".join(rows) + "\n")
    out = tmp_path / "report.json"
    common = ["evaluate", "--stream", f"csv:{path}", "--target", "class", "--seeds", "1"]
    common += ["--cost-column", "price", "--unit", "cost", "--quiet", "--json", str(out)]
    assert main(common) == 0
    by_cost = json.loads(out.read_text())
    assert by_cost["options"]["unit"] == "cost"
    # A tenth of the stream's *cost* buys more than a tenth of its events: cheap ones.
    assert by_cost["label_fraction"] > 0.12
    assert main([*common[:-2], "--json", str(out), "--cost-column", "nope"]) == 2


def test_a_bandits_arms_and_flags_are_given_by_flag_or_by_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    out = tmp_path / "report.json"
    common = ["evaluate", "--stream", "synth:sea-drift", "--n-events", "500", "--seeds", "1"]
    arms = ["--strategy-param", "arms=split, random", "--strategy-param", "floor=0.25"]
    assert main([*common, "--strategy", "bandit", *arms, "--quiet", "--json", str(out)]) == 0
    given = json.loads(out.read_text())["options"]["strategy_params"]
    assert given == {"arms": ["split", "random"], "floor": 0.25}
    monkeypatch.setenv("STREAM_AL_LEARNER__STRATEGY", "split")
    monkeypatch.setenv("STREAM_AL_LEARNER__STRATEGY_PARAMS", '{"stratified": true}')
    assert main([*common, "--quiet", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["options"]["strategy_params"] == {"stratified": True}


def test_configured_strategy_parameters_stay_with_their_strategy(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("STREAM_AL_LEARNER__STRATEGY", "moving-average")
    monkeypatch.setenv("STREAM_AL_LEARNER__STRATEGY_PARAMS", '{"k": 0.5}')
    out = tmp_path / "report.json"
    common = ["evaluate", "--stream", "synth:sea-drift", "--n-events", "500", "--seeds", "1"]
    assert main([*common, "--quiet", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["options"]["strategy_params"] == {"k": 0.5}
    assert main([*common, "--strategy", "split", "--quiet", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["options"]["strategy_params"] == {}


def test_the_web_oracle_without_a_token_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["worker", "--oracle", "web", "--quiet"]) == 2
    assert "STREAM_AL_WORKER__WEB_TOKEN" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "fix"),
    [
        (["--pool", "csv:/no/such/pool.csv", "--k", "5"], "no such pool file"),
        (["--pool", "history.csv", "--k", "5"], "not of the form csv:PATH or topic:NAME"),
        (["--pool", "CSV", "--k", "5", "--model", "/no/model"], "cannot read model file"),
        (["--pool", "CSV", "--k", "50", "--candidates", "10", "--dry-run"], "fewer than --k"),
    ],
)
def test_select_bad_input_exits_2_with_what_to_fix(
    args: list[str],
    fix: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STREAM_AL_CHECKPOINT__KEY", "k")
    args = [f"csv:{_csv(tmp_path)}" if a == "CSV" else a for a in args]
    assert main(["select", *args]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and fix in err, err
    assert err.startswith("stream-al select: error:")


HEAVY = ("river", "scipy", "numpy", "pandas", "matplotlib")


def test_the_command_line_imports_no_river_until_a_command_needs_it() -> None:
    """``import stream_al.cli``, ``--help``, ``--version``, ``settings`` and ``metrics``
    leave River, scipy and numpy unimported: a behaviour, checked in a fresh process."""
    script = (
        "import contextlib, io, sys\n"
        "import stream_al.cli\n"
        "from stream_al.cli.main import main\n"
        "for argv in (['--help'], ['--version'], ['settings'], ['metrics']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()):\n"
        "        try:\n"
        "            main(argv)\n"
        "        except SystemExit:\n"
        "            pass\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_the_settings_a_help_example_gives_are_ones_serve_takes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # serve's example gave STREAM_AL_CHECKPOINT__KEY=change-me, 9 bytes: serve refused it
    # (exit 2, "needs at least 16").
    import argparse
    import re

    from stream_al.cli.parser import build_parser
    from stream_al.service.serve import _checkpoint_key, _long_enough

    def epilogs(parser: argparse.ArgumentParser) -> list[str]:
        found = [parser.epilog or ""]
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    found += epilogs(child)
        return found

    given = re.findall(r"\b(STREAM_AL_[A-Z_]+)=(\S+)", "\n".join(epilogs(build_parser(Settings()))))
    assert "STREAM_AL_CHECKPOINT__KEY" in dict(given), given
    for name in [name for name in os.environ if name.startswith("STREAM_AL_")]:
        monkeypatch.delenv(name)
    for name, value in given:
        monkeypatch.setenv(name, value)
        _long_enough(_checkpoint_key(Settings()))  # a setting serve refuses raises here


@pytest.mark.parametrize("flags", [[], ["--deployed", "--backend", "kafka-python"]])
def test_bench_throughput_without_a_broker_names_the_address_and_its_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], flags: list[str]
) -> None:
    # It said "stream-al bench: failed: NoBrokersAvailable: NoBrokersAvailable" (exit 1): the
    # README's bench block in the quickstart's shell, whose STREAM_AL_* exports named the
    # servers its scripts/services down had stopped, gave no clue.
    for name in [name for name in os.environ if name.startswith("STREAM_AL_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("STREAM_AL_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:1")  # nothing there
    monkeypatch.setenv("KAFKA_BOOTSTRAP", "127.0.0.1:2")  # the setting wins
    assert main(["bench", "throughput", "--events", "10", "--quiet", *flags]) == 2
    err = capsys.readouterr().err
    assert "no Kafka broker answers at 127.0.0.1:1" in err, err
    assert "STREAM_AL_KAFKA__BOOTSTRAP_SERVERS" in err and "KAFKA_BOOTSTRAP" in err


def test_every_default_the_settings_table_shows_is_a_value_the_setting_takes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The candidates' default read ['hoeffding-tree-default', ...] (Python's repr): written
    # as the variable's value, it was refused as "not JSON".
    from stream_al.cli.reference import _DYNAMIC_DEFAULTS, settings_rows

    for name in [name for name in os.environ if name.startswith("STREAM_AL_")]:
        monkeypatch.delenv(name)
    defaults = Settings()
    for variable, default, _ in settings_rows():
        if not default or variable in _DYNAMIC_DEFAULTS:
            continue
        monkeypatch.setenv(variable, default)
        assert Settings() == defaults, f"{variable}={default}"
        monkeypatch.delenv(variable)
