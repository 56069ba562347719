"""The learner's settings (``STREAM_AL_LEARNER__*``): model, strategy, budget, drift,
model selection."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar, get_type_hints

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo

from stream_al.core.drift import DriftReaction
from stream_al.core.feature_kinds import MAX_MODEL_FEATURES
from stream_al.core.models import MODELS
from stream_al.core.selection import DEFAULT_CANDIDATES
from stream_al.core.shaping import Shaping
from stream_al.core.strategies import STRATEGIES, StrategyParam, make_strategy
from stream_al.core.uncertainty import NAMES

if TYPE_CHECKING:
    from stream_al.core.spec import LearnerSpec

__all__ = ["DriftSettings", "LearnerSettings", "SelectionSettings"]

_Model = TypeVar("_Model", bound=BaseModel)


def _fields_of(
    source: type, fields: dict[str, FieldInfo]
) -> Callable[[type[_Model]], type[_Model]]:
    """Give a settings model the fields of the dataclass ``source``.

    The names, types and defaults come from ``source``; ``fields`` adds each field's
    bounds and description (the settings table shows them), and must name every field.
    """
    names = [f.name for f in dataclasses.fields(source)]
    if sorted(names) != sorted(fields):
        raise TypeError(f"settings of {source.__name__} must describe exactly {names}")
    hints = get_type_hints(source)

    def add(cls: type[_Model]) -> type[_Model]:
        declared: dict[str, Any] = {
            f.name: (Annotated[hints[f.name], fields[f.name]], f.default)
            for f in dataclasses.fields(source)
        }
        return create_model(
            cls.__name__, __base__=cls, __module__=cls.__module__, __doc__=cls.__doc__, **declared
        )

    return add


@_fields_of(
    DriftReaction,
    {
        "enabled": Field(description="Run the drift monitor."),
        "delta": Field(
            description="ADWIN confidence parameter in (0, 1), or auto: 0.05 when a "
            "strategy chooses the labels, 0.002 with every label (budget 1)."
        ),
        "boost_factor": Field(ge=1, description="Budget multiplier after a drift (1 = no boost)."),
        "boost_events": Field(ge=0, description="Events the budget boost lasts."),
        "restart": Field(description="Model restart on drift: warm re-learns the recent labels."),
        "buffer_size": Field(
            ge=0, le=1_000_000, description="Recent labeled examples kept for a warm restart."
        ),
        "challenger_every": Field(
            ge=0, description="Labels between challenger models (0 = no challenger)."
        ),
        "challenger_min": Field(
            ge=1, description="Labels a challenger learns before it may replace the model."
        ),
        "challenger_max": Field(
            ge=1, description="Labels after which a challenger that has not won is dropped."
        ),
        "challenger_z": Field(
            ge=0, description="McNemar z a challenger must reach to replace the model."
        ),
        "label_free": Field(
            description="Also watch every event's uncertainty (ADWIN, no labels needed); "
            "a rise boosts the budget before labels confirm the drift."
        ),
        "label_free_delta": Field(
            gt=0, lt=1, description="ADWIN confidence parameter of the label-free monitor."
        ),
    },
)
class DriftSettings(BaseModel):
    """The drift monitor (ADWIN on the errors of labeled items) and its reaction.

    Its fields are :class:`~stream_al.core.drift.DriftReaction`'s: the names, types and
    defaults come from there, the bounds and descriptions are the settings' own.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    # Checked here too, not only by DriftReaction across the fields: an error there names
    # the section (STREAM_AL_LEARNER__DRIFT), one here the variable (..._DRIFT__DELTA).
    @field_validator("delta", check_fields=False)
    @classmethod
    def _delta(cls, value: float | str) -> float | str:
        if value != "auto" and not 0.0 < float(value) < 1.0:
            raise ValueError(f"must be in (0, 1) or auto, got {value!r}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> DriftSettings:
        self.reaction()  # its checks across fields (challenger_min <= challenger_max)
        return self

    def reaction(self) -> DriftReaction:
        return DriftReaction(**self.model_dump())


class SelectionSettings(BaseModel):
    """The ``auto`` model: the candidates that learn the labels, and how one is chosen."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    candidates: list[str] = Field(
        list(DEFAULT_CANDIDATES),
        description="Models that learn the same labels under model auto (the first serves "
        "until another proves better).",
    )
    z: float = Field(
        2.0, ge=0, description="Standard deviations a candidate must lead the served one by."
    )
    memory: int = Field(1000, ge=1, description="Labels the race between candidates remembers.")
    labels: Literal["random", "all"] = Field(
        "all",
        description="Labels that judge the race: all, or random (only those asked at random: "
        "unbiased, but too few at small budgets).",
    )

    served_at: Literal["question", "label"] = Field(
        "question",
        description="When the race judges the served model: on its prediction at the "
        "question, or at the label like the others (fair when labels come late).",
    )
    challengers: bool | Literal["auto"] = Field(
        "auto",
        description="Each candidate that does not serve has a challenger of its own kind "
        "(the drift settings' challenger_*), as the served one has: true, false, or auto "
        "(with every label, budget 1: a gain there, none at small budgets).",
    )

    @field_validator("candidates")
    @classmethod
    def _known_candidates(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("name at least one candidate model")
        for name in value:
            if name == "auto":
                raise ValueError("a candidate of model auto cannot be auto itself")
            _known(name, MODELS, "model")
        return value

    def params(self) -> dict[str, Any]:
        """The ``auto`` model's parameters."""
        return {
            "names": tuple(self.candidates),
            "z": self.z,
            "memory": self.memory,
            "labels": self.labels,
            "served_at": self.served_at,
            "challengers": self.challengers,
        }


class LearnerSettings(BaseModel):
    """The model, the query strategy and the label budget."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    model: str = Field(
        "auto",
        description="Model name (stream-al models); auto: candidates learn the same labels, "
        "the most accurate serves.",
    )
    strategy: str = Field(
        "variable-uncertainty", description="Query strategy (stream-al strategies)."
    )
    budget: float = Field(0.1, gt=0, le=1, description="Fraction of events (or cost) to label.")
    window: int = Field(1000, ge=1, description="Memory of the budget estimate, in events.")
    unit: Literal["events", "cost"] = Field(
        "events", description="Budget counted in events or in the events' label cost."
    )
    uncertainty: str = Field(
        "auto",
        description="Uncertainty: auto (leaf for trees that split on few labels, else "
        "least-confidence; it follows the served model), least-confidence, margin, entropy, "
        "leaf, vote-entropy or kl (an ensemble's disagreement), opal (expected gain of a "
        "label times density).",
    )
    seed: int = Field(0, description="Seed of the strategy's and model's random numbers.")
    strategy_params: dict[str, StrategyParam] = Field(
        default_factory=dict,
        description="Strategy parameters by name: numbers, flags, lists of names, e.g. "
        '{arms = ["variable-uncertainty", "random"], floor = 0.2} (see stream-al strategies).',
    )
    density_beta: float = Field(
        0.0, ge=0, description="Density weighting exponent: score x density^beta (0 = off)."
    )
    imbalance: float = Field(
        0.0, ge=0, description="Weight up items predicted as rarely labeled classes (0 = off)."
    )
    cost_power: float = Field(
        0.0, ge=0, description="Rank by score / cost^power (1 = information per unit cost)."
    )
    stop_after: int = Field(
        0,
        ge=0,
        description="Stop asking (but at random) after this many labels without a gain "
        "in random-slice accuracy; a drift resumes (0 = never).",
    )
    pending_aware: bool = Field(
        False,
        description="Score an event near questions still awaiting their labels as if they "
        "were answered, so near-copies are not asked again (Pham et al. 2022).",
    )
    max_model_features: int = Field(
        MAX_MODEL_FEATURES,
        ge=1,
        description="Distinct feature names the model learns at most (the first the labels "
        "bring); names beyond are ignored, counted in stream_al_features_ignored_total. "
        "Applied at a restart from a checkpoint too; names learned stay.",
    )
    drift: DriftSettings = Field(default_factory=DriftSettings)
    selection: SelectionSettings = Field(default_factory=SelectionSettings)

    @field_validator("model")
    @classmethod
    def _known_model(cls, value: str) -> str:
        return _known(value, MODELS, "model")

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, value: str) -> str:
        return _known(value, STRATEGIES, "strategy")

    @field_validator("uncertainty")
    @classmethod
    def _known_measure(cls, value: str) -> str:
        return _known(value, dict.fromkeys(NAMES), "uncertainty measure")

    @model_validator(mode="after")
    def _strategy_accepts_params(self, info: ValidationInfo) -> LearnerSettings:
        if self.strategy_params:
            try:
                make_strategy(self.strategy, seed=0, **self.strategy_params)
            except ValueError as error:
                if info.context and info.context.get("flags"):
                    raise  # the command line's own: its message names the flags' values
                # Configured parameters belong to the configured strategy: a --strategy flag
                # picks another one and drops them, so the pair must hold on its own.
                raise ValueError(
                    f"{error} (STREAM_AL_LEARNER__STRATEGY_PARAMS, or strategy_params in "
                    "[learner], are for the configured strategy: set "
                    "STREAM_AL_LEARNER__STRATEGY, or strategy in [learner], to the one they "
                    "are for; with a --strategy flag, give them as --strategy-param NAME=VALUE)"
                ) from None
        return self

    def spec(self) -> LearnerSpec:
        """The learner these settings describe (build it with a seed).

        Every setting but the seed is a field of the spec, or of its :class:`Shaping`; the
        selection settings are the ``auto`` model's parameters.
        """
        from stream_al.core.pending import LateLabels  # numpy: imported when a learner is
        from stream_al.core.spec import LearnerSpec  # River: imported when a learner is

        values = self.model_dump(exclude={"seed", "drift", "selection"})
        late = LateLabels(aware=values.pop("pending_aware"))
        shaping = {
            f.name: values.pop(f.name) for f in dataclasses.fields(Shaping) if f.name in values
        }
        return LearnerSpec(
            **values,
            drift=self.drift.reaction(),
            shaping=Shaping(**shaping),
            late_labels=late,
            model_params=self.selection.params() if self.model == "auto" else {},
        )


def _known(value: str, registry: dict[str, Any], what: str) -> str:
    if value not in registry:
        raise ValueError(f"unknown {what} {value!r}; choose one of: {', '.join(registry)}")
    return value
