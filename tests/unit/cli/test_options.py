"""The learner options table: one row a flag, and from it the flags, the merge, the echo."""

from __future__ import annotations

import argparse

import pytest

from stream_al.cli.options import (
    LEARNER_OPTIONS,
    add_learner_options,
    learner_settings,
    reported_options,
)
from stream_al.config import LearnerSettings, load_settings
from stream_al.errors import ConfigurationError


def _parse(argv: list[str], settings: LearnerSettings) -> LearnerSettings:
    parser = argparse.ArgumentParser()
    add_learner_options(parser, settings)
    return learner_settings(parser.parse_args(argv), settings)


def _value(settings: LearnerSettings, setting: str) -> object:
    value: object = settings.model_dump()
    for name in setting.split("."):
        assert isinstance(value, dict)
        value = value[name]
    return value


def test_without_flags_the_settings_in_force_come_back_unchanged() -> None:
    configured = LearnerSettings(
        model="gaussian-nb", budget=0.2, imbalance=1.0, drift={"restart": "reset"}
    )
    assert _parse([], configured) == configured


ONE_FLAG_EACH = [
    (["--model", "gaussian-nb"], "model", "gaussian-nb"),
    (["--strategy", "random"], "strategy", "random"),
    (["--budget", "0.05"], "budget", 0.05),
    (["--window", "50"], "window", 50),
    (["--uncertainty", "margin"], "uncertainty", "margin"),
    (["--drift-restart", "none"], "drift.restart", "none"),
    (["--drift-boost", "3"], "drift.boost_factor", 3.0),
    (["--no-drift"], "drift.enabled", False),
    (["--label-free-drift"], "drift.label_free", True),
    (["--strategy-param", "step=0.02"], "strategy_params", {"step": 0.02}),
    (["--density", "1"], "density_beta", 1.0),
    (["--imbalance", "2"], "imbalance", 2.0),
    (["--cost-power", "0.5"], "cost_power", 0.5),
    (["--unit", "cost"], "unit", "cost"),
    (["--stop-after", "100"], "stop_after", 100),
    (["--seed", "7"], "seed", 7),
]


@pytest.mark.parametrize(("argv", "setting", "value"), ONE_FLAG_EACH)
def test_a_flag_sets_its_setting(argv: list[str], setting: str, value: object) -> None:
    assert _value(_parse(argv, LearnerSettings()), setting) == value


def test_every_option_has_a_case_above() -> None:
    assert {argv[0] for argv, _, _ in ONE_FLAG_EACH} == {o.flag for o in LEARNER_OPTIONS}


def test_the_defaults_in_the_help_are_the_settings_in_force() -> None:
    parser = argparse.ArgumentParser()
    add_learner_options(parser, LearnerSettings(budget=0.25, window=77))
    text = parser.format_help()
    assert "(default 0.25)" in text and "(default 77)" in text


def test_configured_strategy_parameters_stay_with_their_strategy() -> None:
    configured = LearnerSettings(strategy="moving-average", strategy_params={"k": 0.5})
    assert _parse([], configured).strategy_params == {"k": 0.5}
    assert _parse(["--strategy", "split"], configured).strategy_params == {}
    both = _parse(["--strategy-param", "alpha=0.1"], configured)
    assert both.strategy_params == {"k": 0.5, "alpha": 0.1}


def test_a_parameter_the_strategy_does_not_take_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="has no parameter foo") as raised:
        _parse(["--strategy-param", "foo=1"], LearnerSettings())
    assert "STREAM_AL_" not in str(raised.value)  # the flag is at fault, not a setting


def test_configured_parameters_without_their_strategy_say_how_to_pair_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A user gave the bandit's arms in the environment and --strategy bandit as a flag:
    # the configured pair (variable-uncertainty with arms) is refused, saying what to set.
    monkeypatch.setenv("STREAM_AL_LEARNER__STRATEGY_PARAMS", '{"arms": ["split", "random"]}')
    with pytest.raises(ValueError, match="has no parameter arms") as raised:
        load_settings()
    assert "set STREAM_AL_LEARNER__STRATEGY" in str(raised.value)
    assert "--strategy-param" in str(raised.value)
    monkeypatch.setenv("STREAM_AL_LEARNER__STRATEGY", "bandit")
    assert load_settings().learner.strategy_params == {"arms": ["split", "random"]}


def test_the_report_echoes_the_options_beyond_model_strategy_and_budget() -> None:
    echoed = reported_options(
        _parse(["--label-free-drift", "--cost-power", "1"], LearnerSettings())
    )
    assert echoed == {
        "label_free_drift": True,
        "strategy_params": {},
        "density_beta": 0.0,
        "imbalance": 0.0,
        "cost_power": 1.0,
        "unit": "events",
        "stop_after": 0,
    }
