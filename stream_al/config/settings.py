"""Every setting in one model (:class:`Settings`), read from the environment and a TOML
file, with the names users write and the refusal of names that are no setting."""

from __future__ import annotations

import difflib
import json
import os
import tomllib
from pathlib import Path
from typing import Any, get_origin

from pydantic import (
    BaseModel,
    Field,
    ValidationError,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from stream_al.config.learner import LearnerSettings
from stream_al.config.servers import (
    LABEL_STUDIO_PREFIX,
    CheckpointSettings,
    KafkaSettings,
    LabelStudioSettings,
    MetricsSettings,
    RedisSettings,
    ServiceSettings,
    WorkerSettings,
)

__all__ = ["SCRIPT_VARIABLES", "Settings", "load_settings", "unknown_variables", "variable_name"]


class Settings(BaseSettings):
    """Every setting of stream-al."""

    model_config = SettingsConfigDict(
        env_prefix="STREAM_AL_", env_nested_delimiter="__", extra="ignore"
    )

    learner: LearnerSettings = Field(default_factory=LearnerSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    service: ServiceSettings = Field(default_factory=ServiceSettings)
    checkpoint: CheckpointSettings = Field(default_factory=CheckpointSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment first, then the TOML file given with --config, then defaults.
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if _CONFIG_FILE is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=_CONFIG_FILE))
        return tuple(sources)


_CONFIG_FILE: Path | None = None


def variable_name(loc: tuple[int | str, ...]) -> str:
    """The environment variable of a setting's location in :class:`Settings`.

    >>> variable_name(("worker", "label_studio", "url"))
    'STREAM_AL_WORKER__LABEL_STUDIO_URL'
    >>> variable_name(("learner", "drift", "delta"))
    'STREAM_AL_LEARNER__DRIFT__DELTA'

    """
    parts = [str(p) for p in loc]
    if parts[:2] == ["worker", "label_studio"] and len(parts) > 2:
        parts = ["worker", LABEL_STUDIO_PREFIX + parts[2], *parts[3:]]
    return "STREAM_AL_" + "__".join(parts).upper()


def _problem(err: Any) -> tuple[str, str, str]:
    """A refused setting's variable, what is wrong with it, and the value refused when
    the setting takes one of several kinds ("" otherwise).

    Such a setting (a number or ``auto``) is refused once per kind, at locations that name
    variables that do not exist (``..._DRIFT__DELTA__FLOAT``,
    ``..._DRIFT__DELTA__LITERAL['AUTO']``): each is said of the setting itself. A strategy
    parameter (a number, a flag or names) is said once.
    """
    loc = tuple(err["loc"])
    if loc[:2] == ("learner", "strategy_params") and len(loc) > 2:
        return (
            variable_name(loc[:2]),
            f"{loc[2]} = {err['input']!r} is no strategy parameter: "
            "a finite number, true or false, or a list of names",
            "",
        )
    settings = _known_names(Settings)[0]
    for end in range(len(loc) - 1, 0, -1):
        if variable_name(loc[:end]) in settings:  # one of the kinds it takes
            return variable_name(loc[:end]), err["msg"], repr(err["input"])
    return variable_name(loc), err["msg"], ""


def _problems(exc: ValidationError) -> str:
    """What is wrong, each refused setting named once, by its variable.

    >>> try:
    ...     Settings(learner={"drift": {"delta": "never"}})
    ... except ValidationError as exc:
    ...     print(_problems(exc))  # doctest: +NORMALIZE_WHITESPACE
    STREAM_AL_LEARNER__DRIFT__DELTA: Input should be a valid number, unable to parse
    string as a number, or Input should be 'auto' (got 'never')
    """
    said: dict[str, list[str]] = {}
    got: dict[str, str] = {}
    for err in exc.errors():
        variable, why, value = _problem(err)
        whys = said.setdefault(variable, [])
        if why not in whys:
            whys.append(why)
        if value:
            got[variable] = value
    return "; ".join(
        f"{variable}: {', or '.join(whys)}" + (f" (got {got[variable]})" if variable in got else "")
        for variable, whys in said.items()
    )


SCRIPT_VARIABLES = {
    "STREAM_AL_CACHE",
    "STREAM_AL_KAFKA_TIMEOUT",
    "STREAM_AL_LABEL_STUDIO",
    "STREAM_AL_ELEC2",
    "STREAM_AL_BENCH_PROFILE",
    "STREAM_AL_BENCH_PROFILE_IDLE",
    "STREAM_AL_BENCH_SERVE_PATH",
}
"""``STREAM_AL_*`` variables that are not settings: ``scripts/services``',
``scripts/label-studio``'s, ``scripts/elec2``'s and the benchmarks' (``bench throughput
--deployed``, ``bench/before_after.py``)."""


def _sub_model(field: FieldInfo) -> type[BaseModel] | None:
    annotation: Any = field.annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _known_names(
    model: type[BaseModel], loc: tuple[str, ...] = ()
) -> tuple[set[str], set[str], set[str]]:
    """The variables of ``model``'s settings: ``(settings, sections, mappings)``. A section
    (``STREAM_AL_LEARNER``) takes JSON; a mapping (``STREAM_AL_LEARNER__STRATEGY_PARAMS``)
    also takes one variable per key (``..._PARAMS__K``)."""
    settings: set[str] = set()
    sections: set[str] = set()
    mappings: set[str] = set()
    for name, field in model.model_fields.items():
        sub, variable = _sub_model(field), variable_name((*loc, name))
        if sub is None:
            settings.add(variable)
            if get_origin(field.annotation) is dict:
                mappings.add(variable)
            continue
        sections.add(variable)
        below = _known_names(sub, (*loc, name))
        for ours, theirs in zip((settings, sections, mappings), below, strict=True):
            ours |= theirs
    return settings, sections, mappings


def _closest(name: str, candidates: set[str] | list[str]) -> str:
    match = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
    return f"; did you mean {match[0]}?" if match else ""


def unknown_variables(environ: dict[str, str] | os._Environ[str]) -> list[str]:
    """What is wrong with each ``STREAM_AL_*`` variable of ``environ`` that is no setting,
    with the closest setting's name (pydantic-settings would ignore it silently).

    >>> unknown_variables({"STREAM_AL_LEARNER_BUDGET": "0.05", "STREAM_AL_CACHE": "/c"})
    ['unknown setting STREAM_AL_LEARNER_BUDGET; did you mean STREAM_AL_LEARNER__BUDGET?']

    """
    settings, sections, mappings = _known_names(Settings)
    problems = []
    for variable in sorted(environ):
        name = variable.upper()
        if not name.startswith("STREAM_AL_") or name in SCRIPT_VARIABLES:
            continue
        if name in settings or name in sections:
            continue
        if any(name.startswith(mapping + "__") for mapping in mappings):
            continue
        problems.append(f"unknown setting {variable}{_closest(name, settings)}")
    return problems


def _json_variables(model: type[BaseModel], loc: tuple[str, ...] = ()) -> dict[str, str]:
    """The variables of ``model``'s settings that are read as JSON (a section, a list, a
    mapping), each with what it holds, as an error says it."""
    found: dict[str, str] = {}
    for name, field in model.model_fields.items():
        sub, variable = _sub_model(field), variable_name((*loc, name))
        if sub is not None:
            found[variable] = "a JSON object of the section's settings"
            found.update(_json_variables(sub, (*loc, name)))
        elif NoDecode in field.metadata:
            continue  # read as it is written (comma-separated)
        elif get_origin(field.annotation) is list:
            found[variable] = 'a JSON list, e.g. ["a", "b"]'
        elif get_origin(field.annotation) is dict:
            found[variable] = 'a JSON object, e.g. {"name": 0.2, "names": ["a", "b"]}'
    return found


def not_json(environ: dict[str, str] | os._Environ[str]) -> list[str]:
    """What is wrong with each ``STREAM_AL_*`` variable of ``environ`` that is read as JSON
    and does not hold JSON (pydantic-settings names only its section: 'error parsing value
    for field "learner" from source "EnvSettingsSource"').

    >>> not_json({"STREAM_AL_LEARNER__SELECTION__CANDIDATES": "hoeffding-tree"})
    ... # doctest: +NORMALIZE_WHITESPACE
    ['STREAM_AL_LEARNER__SELECTION__CANDIDATES: not JSON (Expecting value: line 1 column 1
    (char 0)); write a JSON list, e.g. ["a", "b"]']

    """
    takes_json = _json_variables(Settings)
    problems = []
    for variable in sorted(environ):
        what = takes_json.get(variable.upper())
        if what is None:
            continue
        try:
            json.loads(environ[variable])
        except ValueError as exc:
            problems.append(f"{variable}: not JSON ({exc}); write {what}")
    return problems


def _unknown_keys(table: dict[str, Any], model: type[BaseModel], where: str) -> list[str]:
    """What is wrong with each key of a TOML ``table`` that ``model`` does not have
    (``[worker]`` also takes Label Studio's settings flat: ``label_studio_url``)."""
    known = set(model.model_fields)
    if model is WorkerSettings:
        known |= {LABEL_STUDIO_PREFIX + name for name in LabelStudioSettings.model_fields}
    problems = []
    for key, value in table.items():
        field = model.model_fields.get(key)
        sub = None if field is None else _sub_model(field)
        path = f"{where}.{key}" if where else key
        if sub is not None and isinstance(value, dict):
            problems += _unknown_keys(value, sub, path)
        elif key not in known and isinstance(value, dict):
            sections = [f"[{where}.{k}]" if where else f"[{k}]" for k in known]
            problems.append(f"unknown section [{path}]{_closest(f'[{path}]', sections)}")
        elif key not in known:
            place = f"in [{where}]" if where else "at the top (settings go in sections)"
            problems.append(f"unknown key {key} {place}{_closest(key, known)}")
    return problems


def _check_toml(path: Path) -> None:
    try:
        with path.open("rb") as f:
            table = tomllib.load(f)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        # Named: bytes that are not UTF-8 had said only "'utf-8' codec can't decode byte
        # 0xff in position 0", and a TOML error only where in the file, not which file.
        raise ValueError(f"cannot read settings from {path}: {exc}") from None
    problems = _unknown_keys(table, Settings, "")
    if problems:
        raise ValueError(f"{path}: " + "; ".join(problems))


def load_settings(config_file: str | Path | None = None) -> Settings:
    """Settings from the environment and, if given, a TOML file (environment wins).

    Raises ``ValueError`` naming the bad setting(s) in the form users write them; an
    unknown ``STREAM_AL_*`` variable or TOML section or key is refused with the closest
    valid name (a misspelled setting would otherwise be ignored silently).
    """
    global _CONFIG_FILE
    if config_file is not None and not Path(config_file).is_file():
        raise ValueError(f"no such config file: {config_file}")
    problems = unknown_variables(os.environ)
    if problems:
        raise ValueError("; ".join(problems) + " (stream-al settings lists every setting)")
    if config_file is not None:
        _check_toml(Path(config_file))
    _CONFIG_FILE = Path(config_file) if config_file is not None else None
    try:
        return Settings()
    except ValidationError as exc:
        raise ValueError("bad setting " + _problems(exc)) from None
    except SettingsError as exc:  # a variable read as JSON that holds something else
        problems = not_json(os.environ)
        raise ValueError(
            "bad setting " + "; ".join(problems) if problems else f"cannot read settings: {exc}"
        ) from None
    except (OSError, ValueError) as exc:  # an unreadable or malformed TOML file
        raise ValueError(f"cannot read settings: {exc}") from None
    finally:
        _CONFIG_FILE = None
