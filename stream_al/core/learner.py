"""The active learner: predict every event, ask for the few labels worth a human's time.

:class:`ActiveLearner` ties a River model, a query strategy, the label budget and the
drift reaction together. It is pure and synchronous: no I/O, no clock, deterministic
given its seed. The service and the evaluator drive it the same way:

1. ``decide(x)`` for every event: the prediction, the class probabilities, the
   uncertainty, and whether to ask for the label (and why);
2. ``learn(x, y, prediction)`` when a label arrives, with the prediction made when the
   item was asked (the drift monitor compares the two);
3. ``snapshot()`` / ``ActiveLearner.restore()`` for checkpoints: the restored learner
   makes exactly the decisions the original would have made.

Examples
--------
>>> from river.datasets import synth
>>> learner = ActiveLearner("gaussian-nb", "variable-uncertainty", budget=0.1, seed=42)
>>> for x, y in synth.SEA(seed=1).take(10_000):
...     decision = learner.decide(x)
...     if decision.queried:
...         _ = learner.learn(x, y, decision.prediction)

The budget is 10%, from the first event on (see :mod:`stream_al.core.budget`):

>>> round(learner.n_queried / learner.n_events, 2)
0.1
>>> decision.reason in {"uncertain", "confident", "budget-exhausted"}
True
>>> copy = ActiveLearner.restore(learner.snapshot())
>>> x = {0: 5.0, 1: 2.0, 2: 7.0}
>>> copy.decide(x) == learner.decide(x)
True

"""

from __future__ import annotations

import dataclasses
import io
import pickle
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from river import base, compose, tree

from stream_al.core import warm
from stream_al.core.assess import Assessing, Assessment
from stream_al.core.budget import BudgetUnit, EstimatedBudget, every_label
from stream_al.core.candidates import Candidates
from stream_al.core.decision import Decision
from stream_al.core.digest import state_digest
from stream_al.core.drift import ConfidenceMonitor, DriftMonitor, DriftReaction
from stream_al.core.feature_kinds import MAX_MODEL_FEATURES, FeatureKinds, InvalidFeatures
from stream_al.core.models import has_unsupervised_steps, make_model
from stream_al.core.opal import ProbabilisticGain
from stream_al.core.pending import InFlight, LateLabels
from stream_al.core.shaping import ClassBalance, Shaping, bounded_power
from stream_al.core.snapshot import SnapshotPickler
from stream_al.core.snapshot import unseeded_gaussian as _unseeded_gaussian  # noqa: F401 (old pickles)
from stream_al.core.stopping import StoppingRule
from stream_al.core.strategies import QUERY_RANDOM, QueryStrategy, make_strategy
from stream_al.core.tree_predict import TreePredictor, writing_nothing
from stream_al.core.types import ClassLabel, Example, Features, Proba
from stream_al.core.uncertainty import (
    AUTO,
    COMMITTEE,
    LEAF,
    OPAL,
    measure,
    resolve,
    stats_impurity,
)

__all__ = [
    "ASKED_BEFORE",
    "SKIP_BACKPRESSURE",
    "SKIP_BUDGET",
    "SKIP_STOPPED",
    "ActiveLearner",
    "Assessment",
    "Decision",
]

SKIP_BUDGET = "budget-exhausted"
SKIP_BACKPRESSURE = "backpressure"
SKIP_STOPPED = "stopped"
ASKED_BEFORE = "asked-before"
"""The reason of a decision for a copy of an event whose label was asked already."""

AskedBefore = Literal["here", "elsewhere"]

_NO_PREDICTION = object()

# Labels learned before the label-free drift monitor listens: a model's uncertainty rises
# while it learns its first labels (a one-leaf tree meeting a second class), which is no
# drift (on agrawal-drift it fired at event 224 and missed the drift at 10,000).
_LABEL_FREE_AFTER = 100


class ActiveLearner(Assessing):
    """A River classifier that asks for labels within a budget and reacts to drift.

    Parameters
    ----------
    model
        A model name (see :mod:`stream_al.core.models`) or a River classifier, which is
        cloned for restarts.
    strategy
        A strategy name (see :mod:`stream_al.core.strategies`) or a strategy object.
    budget
        Fraction of events (or of label cost) that may be labeled, in (0, 1].
    window
        Memory of the budget's spending estimate, in events.
    unit
        ``"events"`` or ``"cost"`` (the event's ``cost`` is what a label spends).
    uncertainty
        ``"least-confidence"``, ``"margin"``, ``"entropy"``, ``"leaf"`` (Hoeffding trees:
        the impurity of the event's leaf), ``"vote-entropy"`` or ``"kl"`` (ensembles: the
        disagreement of their members, see :mod:`stream_al.core.committee`) or ``"auto"``
        (``leaf`` for Hoeffding trees, least confidence otherwise).
    drift
        The drift monitor and reaction; ``DriftReaction(enabled=False)`` turns it off.
    seed
        Seeds the strategy and the model (where it draws random numbers).
    model_params, strategy_params
        Override the defaults of the named model or strategy.
    shaping
        Density, class-imbalance and cost factors on the score (see
        :mod:`stream_al.core.shaping`); all off by default.
    stop_after
        Stop asking (but for the random slice) once this many labels have not improved
        the random-slice accuracy; a drift resumes (see :mod:`stream_al.core.stopping`).
        0 never stops.
    late_labels
        What to do about questions whose labels have not come back yet (see
        :mod:`stream_al.core.pending`); off by default.
    importance_weights
        Learn each label with weight ``1 / P(asked)`` (normalised to a mean of 1), from the
        questions this learner asked; a strategy that asks every event it chooses with
        certainty gives every label weight 1.
    max_model_features
        The most distinct feature names the model learns (see
        :class:`~stream_al.core.feature_kinds.FeatureKinds`): the first ones the labeled
        examples give; names beyond are ignored in learning and, once the cap is reached,
        in prediction (counted in :attr:`n_features_ignored`). An event is decided and
        learned on the features the model knows.

    Examples
    --------
    A producer that puts an id in a key gives every event a name of its own; the names
    beyond the cap change nothing:

    >>> learner = ActiveLearner("hoeffding-tree", budget=1.0, max_model_features=2)
    >>> for i in range(300):
    ...     x = {"a": i % 10, "b": i % 3, f"user_{i}": 1}
    ...     _ = learner.learn(x, x["a"] > 4)
    >>> learner.n_features, learner.n_features_ignored
    (2, 300)
    >>> learner.decide({"a": 7, "b": 1, "user_9034": 1}).prediction
    True

    """

    # Defaults for learners restored from snapshots made before these existed.
    _shaping: Shaping | None = None
    _density: Any = None
    _balance: ClassBalance | None = None
    _confidence: ConfidenceMonitor | None = None
    _stopping: StoppingRule | None = None
    _plain_tree = False
    _predictor: TreePredictor | None = None
    _committee: str | None = None
    _candidates: Candidates | None = None
    _asked_uncertainty = AUTO
    _flight: InFlight | None = None
    _weight = 1.0
    _opal: ProbabilisticGain | None = None
    n_label_free_drifts = 0
    n_features_ignored = 0
    first_ignored_feature: Any = None

    def __init__(
        self,
        model: str | base.Classifier = "hoeffding-tree",
        strategy: str | QueryStrategy = "split",
        budget: float = 0.1,
        *,
        window: int = 1000,
        unit: BudgetUnit = "events",
        uncertainty: str = AUTO,
        drift: DriftReaction | None = None,
        seed: int | None = 0,
        model_params: Mapping[str, Any] | None = None,
        strategy_params: Mapping[str, Any] | None = None,
        shaping: Shaping | None = None,
        stop_after: int = 0,
        late_labels: LateLabels | None = None,
        importance_weights: bool = False,
        max_model_features: int = MAX_MODEL_FEATURES,
    ):
        if max_model_features < 1:
            raise ValueError(f"max_model_features must be at least 1, got {max_model_features}")
        self.seed = seed
        # The LearnerSpec that built this learner (LearnerSpec.build sets it; None for one
        # built otherwise): a restart compares it with the settings of the day.
        self.spec: Any = None
        self.model_params = dict(model_params or {})
        if isinstance(model, str):
            self.model_name = model
            self._template: base.Classifier | None = None
            built = make_model(model, seed, **self.model_params)
        else:
            self.model_name = type(model).__name__
            self._template = model.clone()
            built = model
        if isinstance(strategy, str):
            self._strategy = make_strategy(strategy, seed=seed, **dict(strategy_params or {}))
        else:
            self._strategy = strategy
        self.strategy_name: str = self._strategy.name
        self._budget = EstimatedBudget(budget, window=window, unit=unit)
        self._asked_uncertainty = uncertainty
        if uncertainty == OPAL:
            self._opal = ProbabilisticGain()
        if isinstance(built, Candidates):
            self._candidates = built
            built = built.members[built.served]
        self._serve(built)
        self.drift = drift if drift is not None else DriftReaction()
        # Every label (budget 1) makes the labels a random sample: the drift monitor's and
        # the candidates' "auto" settings follow (docs/design.md, "Drift"). Chosen here,
        # once: a restart under another budget (rebudget) keeps them.
        labels_all = every_label(self._budget.budget)
        delta = self.drift.adwin_delta(labels_all)
        self._monitor = DriftMonitor(delta) if self.drift.enabled else None
        self._challenger = (
            self.drift.challenger(self._fresh_model, self._predict_with, self._learn_with)
            if self.drift.challenges
            else None
        )
        if self._candidates is not None and self._challenger is not None:
            self._candidates.challenge(self.drift, labels_all)
        self._recent: deque[tuple[Features, ClassLabel]] = deque(maxlen=self.drift.buffer_size)
        # The kind (number or text) of each feature, as the learned examples gave it, and
        # so the names the model learns: at most max_model_features.
        self._kinds: FeatureKinds = FeatureKinds(max_model_features)
        if shaping is not None and shaping.active:
            self._shaping = shaping
            if shaping.density_beta:
                from stream_al.core.density import DensityWeight

                self._density = DensityWeight(
                    beta=shaping.density_beta, size=shaping.density_size, seed=seed
                )
            if shaping.imbalance:
                self._balance = ClassBalance(shaping.imbalance, shaping.imbalance_cap)
        if self.drift.enabled and self.drift.label_free:
            self._confidence = ConfidenceMonitor(self.drift.label_free_delta)
        if stop_after:
            self._stopping = StoppingRule(stop_after)
        self.late_labels = late = late_labels if late_labels is not None else LateLabels()
        if late.aware or importance_weights or self._strategy.learns_from_answers:
            self._flight = InFlight(late, importance_weights)
        self.n_events = self.n_queried = self.n_learned = 0
        self.n_drifts = self.n_swaps = self.n_label_free_drifts = 0
        # Feature values left out of events and examples, beyond the cap on names (this
        # learner's count, as n_events), and the first name left out, for the log.
        self.n_features_ignored = 0
        self.first_ignored_feature = None

    def _serve(self, model: base.Classifier) -> None:
        """Make ``model`` the one that predicts every event; the uncertainty follows it."""
        self._model = model
        asked = self._asked_uncertainty
        if asked == LEAF and self._candidates is not None and not _is_tree(model):
            asked = "least-confidence"  # a candidate that is no tree: the leaf has no meaning
        self.uncertainty = resolve(asked, model)
        self._leaf = self.uncertainty == LEAF
        # A plain Hoeffding tree predicts through a TreePredictor (River's probabilities,
        # faster), which gives the leaf, hence its impurity, from the same walk.
        self._plain_tree = type(model) is tree.HoeffdingTreeClassifier
        self._fused = self._leaf and self._plain_tree
        self._committee = self.uncertainty if self.uncertainty in COMMITTEE else None
        plain = self._leaf or self._committee is not None or self.uncertainty == OPAL
        self._measure = measure("least-confidence" if plain else self.uncertainty)
        self._least_confidence = self.uncertainty == "least-confidence"
        # With candidates every model's state must follow from the labels alone (replicas
        # agree on which serves): their scalers learn the labeled items only.
        self._unsupervised = self._candidates is None and has_unsupervised_steps(model)

    # -- the two calls of the hot path -------------------------------------------------

    def decide(
        self,
        x: Features,
        cost: float = 1.0,
        may_query: bool = True,
        assessed: Assessment | None = None,
        asked_before: AskedBefore | None = None,
    ) -> Decision:
        """Predict ``x`` and decide whether to ask for its label.

        Parameters
        ----------
        x
            The event's features.
        cost
            What its label would cost (counted when the budget is in cost units).
        may_query
            False when the caller cannot take a query now (the label queue is full): the
            event is predicted, nothing is spent and the strategy is not consulted.
        assessed
            ``x``'s assessment from :meth:`assess_many` over a batch that holds it, made
            with the model as it is now; None assesses ``x`` here.
        asked_before
            Set for a copy of an event whose label was asked already (at-least-once
            delivery: an event consumed again): it is not asked again, and its decision
            says queried (:data:`ASKED_BEFORE`). ``"here"``: this learner decided it and
            charged the label; it is only predicted, nothing in the learner changes.
            ``"elsewhere"``: asked by a learner whose state this one does not hold (a
            crash lost it after the question was queued, before the event's offset was
            committed): it counts as an event whose label was spent, the strategy not
            consulted, so the budget charges each question once.

        Raises
        ------
        InvalidFeatures
            When a feature of ``x`` is text where the model learned numbers, or the
            reverse (see :mod:`stream_al.core.feature_kinds`); nothing is decided or spent.

        """
        kinds = self._kinds
        kinds.check(x)
        if kinds.full:  # a flag until the cap is reached: the usual stream pays nothing
            x = self._ignore_beyond_cap(x, kinds.known_only(x))
        prediction, proba, score = self.assess(x) if assessed is None else assessed
        if asked_before == "here":  # decided and charged already: the state has it
            threshold = self._strategy.threshold
            return Decision(prediction, proba, score, True, ASKED_BEFORE, threshold)
        if self._opal is not None:
            self._opal.observe(x)
        confidence = self._confidence
        if (
            confidence is not None
            and proba
            and self.n_learned >= _LABEL_FREE_AFTER
            and confidence.update(score)
        ):
            self._react_to_label_free_drift()
        if self._shaping is not None:
            score = self._shape(x, prediction, score, cost)
        strategy = self._strategy
        strategy.observe(1.0 - score)  # every event, asked or not
        threshold = strategy.threshold
        budget = self._budget
        if asked_before is not None:  # its question is there: charged, not asked again
            queried, reason = True, ASKED_BEFORE
        elif not may_query:
            queried, reason = False, SKIP_BACKPRESSURE
        elif budget.allows(cost):
            flight = self._flight  # pending questions near x count as answered
            asked = score if flight is None else flight.discount(x, score)
            queried, reason = strategy.ask(1.0 - asked, budget.target, prediction)
            stopping = self._stopping
            if queried and stopping is not None and stopping.stopped and reason != QUERY_RANDOM:
                queried, reason = False, SKIP_STOPPED
        else:
            queried, reason = False, SKIP_BUDGET
        budget.record(queried, cost)
        self.n_events += 1
        if queried:
            self.n_queried += 1
            if self._flight is not None:
                self._flight.asked(x, self.n_events, strategy)
        return Decision(prediction, proba, score, queried, reason, threshold)

    def learn(
        self,
        x: Features,
        y: ClassLabel,
        prediction: ClassLabel | object | None = _NO_PREDICTION,
        random_slice: bool = False,
    ) -> bool:
        """Learn one labeled example; returns True when it revealed a drift.

        Parameters
        ----------
        x
            The features of the labeled event.
        y
            Its label.
        prediction
            The prediction made when the event was decided. The drift monitor needs it;
            when omitted, the current model's prediction is used instead.
        random_slice
            Whether the label was asked at random (an unbiased accuracy sample, which
            the stopping rule watches).

        Raises
        ------
        InvalidFeatures
            When ``x`` is not features the model can learn (a kind other than the one
            learned, a number that is not finite or larger than
            :data:`~stream_al.core.feature_kinds.MAX_MAGNITUDE`); nothing is learned.
        InvalidLabel
            When ``y`` is not text, an integer or a boolean, or of another kind than the
            labels learned (River sorts the classes: one label of another kind would
            leave a model that can predict nothing); nothing is learned.

        """
        kinds = self._kinds
        kinds.check_example(x)
        kinds.check_label(y)
        x = self._ignore_beyond_cap(x, kinds.learn(x))
        kinds.learn_label(y)
        drifted = False
        if self._balance is not None:
            self._balance.learn(y)
        if self._monitor is not None or self._stopping is not None:
            if prediction is _NO_PREDICTION:
                prediction = self.predict(x)
            correct = prediction == y
            if self._stopping is not None:
                self._stopping.observe(correct, random_slice)
        verdict = None if prediction is _NO_PREDICTION else prediction == y
        if self._flight is not None:
            self._weight = self._flight.answered(x, self._strategy, verdict)
        if self._opal is not None:
            self._opal.learn(x, y)
        candidates = self._candidates
        # The served model is judged on its prediction when the item was asked (as the
        # drift monitor is), the others on their prediction now, before they learn it.
        switched = candidates is not None and candidates.race(
            x,
            y,
            random_slice,
            self._candidate_predict,
            self._candidate_learn,
            verdict,
        )
        if self._monitor is not None:
            drifted = self._monitor.update(not correct)
            if drifted:
                self._react_to_drift()
            if self._recent.maxlen:
                self._recent.append((x, y))
            if self._challenger is not None:
                winner = self._challenger.observe(x, y, correct)
                if winner is not None:  # it has learned (x, y) already
                    self._replace_served(winner)
                    self.n_swaps += 1
                    if self._confidence is not None:
                        self._confidence.reset()
                    self.n_learned += 1
                    if switched:
                        self._switch()
                    return drifted
        self._learn_with(self._model, x, y)
        self.n_learned += 1
        if switched:
            self._switch()
        return drifted

    def _candidate_predict(self, model: base.Classifier, x: Features) -> ClassLabel | None:
        if model is self._model:
            return self._predict_with(model, x)
        proba = self._proba_of_kind(model, x)
        return max(proba, key=proba.__getitem__) if proba else None

    def _candidate_learn(self, model: base.Classifier, x: Features, y: ClassLabel) -> None:
        if self._weight != 1.0:
            model.learn_one(x, y, w=self._weight)  # type: ignore[call-arg]
        elif type(model) is tree.HoeffdingTreeClassifier:
            self._tree_predictor().learn(model, x, y)
        else:
            model.learn_one(x, y)

    def _proba_of_kind(self, model: base.Classifier, x: Features) -> Proba:
        """A candidate's probabilities, whatever kind serves (its unsupervised steps, if
        any, learn the labeled items only, in ``learn_one``)."""
        if type(model) is tree.HoeffdingTreeClassifier:
            return self._tree_predictor().proba_and_leaf(model, x)[0]
        proba: Proba = model.predict_proba_one(x)
        return proba

    def _replace_served(self, model: base.Classifier) -> None:
        """``model`` (a challenger that won) replaces the served model, in its candidate's
        place (found by identity: the race may have chosen another one on this label)."""
        if self._candidates is not None:
            members = self._candidates.members
            for i, member in enumerate(members):
                if member is self._model:
                    members[i] = model
        self._model = model

    def _served_slot(self) -> int:
        """The candidate slot of the model serving now. Within :meth:`learn` it may differ
        from the race's choice, which takes over once the label is learned (:meth:`_switch`);
        until then restarts and challengers stay of the serving model's kind."""
        assert self._candidates is not None
        return next(i for i, m in enumerate(self._candidates.members) if m is self._model)

    def _switch(self) -> None:
        """Another candidate won the race: it serves, and a challenger of the old kind
        has nothing left to challenge."""
        candidates = self._candidates
        assert candidates is not None
        self._serve(candidates.members[candidates.served])
        if self._challenger is not None:
            self._challenger.drop()
        if self._confidence is not None:  # another model: another level of confidence
            self._confidence.reset()

    # -- warm start --------------------------------------------------------------------

    def warm_start(self, history: Iterable[Example]) -> int:
        """Learn a labeled history before the live stream; returns how many examples (see
        :func:`stream_al.core.warm.warm_start`: the budget is spent on the live stream only)."""
        return warm.warm_start(self, history)

    def adopt(self, other: ActiveLearner) -> None:
        """Start from ``other``'s model, a saved learner of the same model (see
        :func:`stream_al.core.warm.adopt`)."""
        warm.adopt(self, other)

    # -- helpers -----------------------------------------------------------------------

    def rebudget(self, budget: float, window: int, unit: BudgetUnit = "events") -> None:
        """Spend ``budget`` from now on: a fresh estimate, as at the start of a stream (a
        restart under new budget settings). The model and all it learned are kept, and
        so is the digest: the budget follows each replica's own events."""
        self._budget = EstimatedBudget(budget, window=window, unit=unit)
        if self.spec is not None:
            self.spec = dataclasses.replace(self.spec, budget=budget, window=window, unit=unit)

    def can_take(self, x: Features) -> bool:
        """Whether :meth:`decide` would take ``x`` (no feature of another kind than the
        model learned; see :mod:`stream_al.core.feature_kinds`)."""
        try:
            self._kinds.check(x)
        except InvalidFeatures:
            return False
        return True

    @property
    def n_features(self) -> int:
        """Distinct features the model has learned (numbers and text): a count that keeps
        rising with the labels means a feature name that changes from event to event."""
        return len(self._kinds.known)

    @property
    def max_model_features(self) -> int:
        """The most distinct feature names the model learns."""
        return self._kinds.cap

    def cap_features(self, cap: int) -> None:
        """Learn at most ``cap`` feature names from now on (a restart under a new setting);
        the names learned already are kept, so a lower cap only stops new ones."""
        if cap < 1:
            raise ValueError(f"max_model_features must be at least 1, got {cap}")
        self._kinds.set_cap(cap)
        if self.spec is not None:
            self.spec = dataclasses.replace(self.spec, max_model_features=cap)

    def _ignore_beyond_cap(self, x: Features, kept: Features) -> Features:
        """``kept`` (``x`` without the names beyond the cap), counting what was left out."""
        if kept is not x:
            self.n_features_ignored += len(x) - len(kept)
            if self.first_ignored_feature is None:
                self.first_ignored_feature = next(name for name in x if name not in kept)
        return kept

    def check_label(self, y: object) -> None:
        """Raise :class:`~stream_al.core.feature_kinds.InvalidLabel` if :meth:`learn`
        would refuse ``y`` as a label (a kind other than the labels learned)."""
        self._kinds.check_label(y)

    def predict(self, x: Features) -> ClassLabel | None:
        """The most probable class for ``x`` (no decision, no budget spent)."""
        kinds = self._kinds
        return self._predict_with(self._model, kinds.known_only(x) if kinds.full else x)

    def _predict_with(self, model: base.Classifier, x: Features) -> ClassLabel | None:
        proba = self._predict_proba(model, x)
        return max(proba, key=proba.__getitem__) if proba else None

    def _tree_proba(self, model: base.Classifier, x: Features) -> tuple[Proba, float]:
        proba, leaf = self._tree_predictor().proba_and_leaf(model, x)
        return proba, 1.0 if leaf is None else stats_impurity(leaf.stats)

    def _tree_predictor(self) -> TreePredictor:
        predictor = self._predictor
        if predictor is None:  # made on first use, also by learners from older snapshots
            self._predictor = predictor = TreePredictor(pooled=True)
        return predictor

    def _predict_proba(self, model: base.Classifier, x: Features) -> Proba:
        if self._plain_tree:
            return self._tree_predictor().proba_and_leaf(model, x)[0]
        with writing_nothing:  # a replay predicts nothing: its trees must be these
            if not self._unsupervised:
                return model.predict_proba_one(x)
            # Scalers and encoders must see every event, not only the labeled few. Setting
            # the flag directly costs far less per event than entering the context manager.
            compose.Pipeline._LEARN_UNSUPERVISED_DURING_PREDICT = True
            try:
                return model.predict_proba_one(x)
            finally:
                compose.Pipeline._LEARN_UNSUPERVISED_DURING_PREDICT = False

    def _learn_with(self, model: base.Classifier, x: Features, y: ClassLabel) -> None:
        weight = {"w": self._weight} if self._weight != 1.0 else {}  # importance weights
        if self._plain_tree and not weight:
            self._tree_predictor().learn(model, x, y)
            return
        if not self._unsupervised:
            model.learn_one(x, y, **weight)
            return
        # The unsupervised steps already saw x when it was predicted; do not count it twice.
        compose.Pipeline._LEARN_UNSUPERVISED_DURING_PREDICT = True
        try:
            model.learn_one(x, y, **weight)
        finally:
            compose.Pipeline._LEARN_UNSUPERVISED_DURING_PREDICT = False

    def _fresh_model(self) -> base.Classifier:
        """A new model of the served kind (a restart's, a challenger's)."""
        if self._candidates is not None:
            return self._candidates.fresh(self._served_slot())
        if self._template is not None:
            return self._template.clone()
        return make_model(self.model_name, self.seed, **self.model_params)

    def _shape(
        self, x: Features, prediction: ClassLabel | None, score: float, cost: float
    ) -> float:
        shaping = self._shaping
        assert shaping is not None
        weight = 1.0
        if self._density is not None:
            weight *= self._density.weight(x)
            self._density.observe(x)
        if self._balance is not None:
            weight *= self._balance.weight(prediction)
        if shaping.cost_power and cost > 0:
            weight /= bounded_power(cost, shaping.cost_power)
        return min(1.0, score * weight)

    def _react_to_label_free_drift(self) -> None:
        self.n_label_free_drifts += 1
        reaction = self.drift
        if reaction.boost_factor > 1.0 and reaction.boost_events > 0:
            self._budget.boost(reaction.boost_factor, reaction.boost_events)
        if self._stopping is not None:
            self._stopping.resume()

    def _react_to_drift(self) -> None:
        self.n_drifts += 1
        reaction = self.drift
        if reaction.boost_factor > 1.0 and reaction.boost_events > 0:
            self._budget.boost(reaction.boost_factor, reaction.boost_events)
        if self._stopping is not None:
            self._stopping.resume()
        if self._confidence is not None:
            self._confidence.reset()
        if reaction.restart == "none":
            return
        candidates = self._candidates
        if candidates is not None:
            # The slot of the model serving now (the race may have chosen another on this
            # very label: that one takes over once this label is learned, see learn).
            slot = self._served_slot()
            candidates.restart()
            self._serve(candidates.members[slot])
            others = [m for m in candidates.members if m is not self._model]
        else:
            self._model = self._fresh_model()
            others = []
        if reaction.restart == "warm" and self._monitor is not None:
            # ADWIN's window after the cut holds the current concept; the newest of its
            # observations is the example being learned right now.
            keep = min(self._monitor.width - 1, len(self._recent))
            if keep > 0:
                for bx, by in list(self._recent)[-keep:]:
                    self._learn_with(self._model, bx, by)
                    for other in others:
                        self._candidate_learn(other, bx, by)
        self._recent.clear()

    # -- state -------------------------------------------------------------------------

    @property
    def model(self) -> base.Classifier:
        """The River model that serves (replaced on a drift restart, a challenger's win or,
        with ``auto``, when another candidate wins the race)."""
        return self._model

    @property
    def served_name(self) -> str:
        """The name of the model that serves (the candidate's, with ``auto``)."""
        if self._candidates is not None:
            return self._candidates.served_name
        return self.model_name

    @property
    def asking_stopped(self) -> bool:
        """Whether the stopping rule holds uncertainty queries back now."""
        return self._stopping is not None and self._stopping.stopped

    @property
    def strategy(self) -> QueryStrategy:
        return self._strategy

    @property
    def budget(self) -> EstimatedBudget:
        return self._budget

    @property
    def model_version(self) -> int:
        """How many labels the model has learned: identifies its state in a stream."""
        return self.n_learned

    def model_digest(self) -> str:
        """A digest of what the labels alone determine, equal across processes.

        It covers the model, the drift monitor, the challenger, the warm-restart buffer
        and the learned, drift and swap counts: two replicas that learned the same train
        log have the same digest. The budget and the strategy follow each replica's own
        events and are left out. (A pipeline whose unsupervised steps learn from every
        event, such as ``logistic-regression``, also depends on the events it predicted.)
        """
        challenger = self._challenger.state() if self._challenger is not None else None
        return state_digest(
            (
                self._model if self._candidates is None else self._candidates,
                self._monitor,
                challenger,
                list(self._recent),
                self.n_learned,
                self.n_drifts,
                self.n_swaps,
                self._kinds,
            )
        )

    def snapshot(self) -> bytes:
        """The learner's whole state (model, strategy, budget, drift) as bytes.

        The bytes are a pickle: restore only snapshots you made or whose signature you
        checked (the service signs its checkpoints).
        """
        out = io.BytesIO()
        SnapshotPickler(out, protocol=pickle.HIGHEST_PROTOCOL).dump(self)
        return out.getvalue()

    @classmethod
    def restore(cls, data: bytes) -> ActiveLearner:
        """The learner saved by :meth:`snapshot`."""
        learner = pickle.loads(data)
        if not isinstance(learner, cls):
            raise TypeError(f"snapshot holds a {type(learner).__name__}, not an ActiveLearner")
        learner._predictor = None  # made anew on first use (an older snapshot's was River's)
        # A snapshot from before the kinds were kept learns them from its next examples.
        learner.__dict__.setdefault("_kinds", FeatureKinds())
        learner.__dict__.setdefault("spec", None)
        return learner

    def __repr__(self) -> str:
        return (
            f"ActiveLearner(model={self.model_name!r}, strategy={self.strategy_name!r}, "
            f"budget={self._budget.budget}, events={self.n_events}, queried={self.n_queried}, "
            f"learned={self.n_learned}, drifts={self.n_drifts})"
        )


def _is_tree(model: base.Classifier) -> bool:
    return isinstance(model, tree.HoeffdingTreeClassifier)
