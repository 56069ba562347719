"""The label-efficiency benchmark's streams, its tuning/reporting split, its jobs and CSVs.

Thirty streams: River's generators across their settings (every one a new realisation per
seed), River's bundled data sets that ship with the wheel (nothing is downloaded) and
Elec2 (a path given at run time). Every stream is capped at :data:`N_EVENTS` events.

**The split.** The streams are divided once into a *tuning* half (defaults may be chosen
on it) and a *reporting* half (the summary and the README quote it only) by a rule on
their names, fixed before any result was seen (:func:`split_halves`): the streams are
ordered by the SHA-256 of their family's name, then of their own name (both salted with
:data:`SPLIT_SALT`), and alternately given to the reporting and the tuning half. Each
family (hyperplane, RBF, Agrawal, real data, ...) is so spread over both halves, and the
halves differ by at most one stream. The assignment is pinned by a unit test: the list of
streams and their halves must not change once results are reported on them.

Examples
--------
>>> halves = split_halves(STREAMS)
>>> sorted(set(halves.values())), len(halves)
(['reporting', 'tuning'], 30)
>>> [y for _, y in STREAM["stagger"].events(seed=0, n=3)]
[False, False, True]

"""

from __future__ import annotations

import csv
import hashlib
import itertools
import math
import os
import random
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from river import datasets
from river.datasets import synth

from stream_al.core.types import Example

__all__ = [
    "FULL",
    "FULL_DRIFT",
    "N_EVENTS",
    "PEER_MODELS",
    "PEER_STRATEGIES",
    "REPORTING",
    "SPLIT_SALT",
    "STREAM",
    "STREAMS",
    "SYSTEMS",
    "TUNING",
    "BenchStream",
    "Plan",
    "csv_name",
    "default_learner",
    "export",
    "jobs_for",
    "split_halves",
    "write_csv",
]

# Every stream's length: long enough for drifts and for a 2% budget to mean 300 labels,
# short enough for thousands of runs on two cores. Shorter real data sets run whole.
N_EVENTS = 15_000
REPORTING = "reporting"
TUNING = "tuning"
# Part of the split rule: changing it re-deals the halves, which must never happen.
SPLIT_SALT = "stream-al issue 16: tuning and reporting halves"

Events = Callable[[int, int], Iterable[Example]]


@dataclass(frozen=True)
class BenchStream:
    """One benchmark stream.

    Attributes
    ----------
    name
        Its name in jobs, results and tables.
    family
        The generator or source it comes from; the split spreads each family over both
        halves.
    about
        What it is, for the report (settings, drifts).
    make
        ``make(seed, n)``: its events (a synthetic stream differs per seed).
    recorded
        Recorded data: the same events for every seed (only the strategies' draws differ).
    path_option
        A recorded stream read from a file named at run time (Elec2): the option's name.
    """

    name: str
    family: str
    about: str
    make: Events
    recorded: bool = False
    path_option: str | None = None

    def events(
        self, seed: int = 0, n: int = N_EVENTS, path: Path | None = None
    ) -> Iterator[Example]:
        """The first ``n`` events for ``seed`` (recorded streams ignore it)."""
        if self.path_option is not None:
            if path is None:
                raise ValueError(f"stream {self.name} needs --{self.path_option} PATH")
            return itertools.islice(_read_csv(path, target="class"), n)
        return itertools.islice(iter(self.make(0 if self.recorded else seed, n)), n)


def _abrupt(concepts: Sequence[Iterable[Example]], n: int) -> Iterator[Example]:
    """Each concept for an equal share of ``n`` events in turn (abrupt drifts)."""
    length = max(1, n // len(concepts))
    for concept in concepts[:-1]:
        yield from itertools.islice(iter(concept), length)
    yield from iter(concepts[-1])


def _gradual(
    old: Iterable[Example], new: Iterable[Example], position: int, width: int, seed: int
) -> Iterator[Example]:
    """River's ``ConceptDriftStream`` rule: the new concept with probability
    ``1 / (1 + exp(-4 (t - position) / width))`` at event ``t`` (safe from overflow)."""
    rng = random.Random(seed)
    first, second = iter(old), iter(new)
    for t in itertools.count(1):
        v = -4.0 * (t - position) / width
        p_new = 0.0 if v > 700.0 else 1.0 / (1.0 + math.exp(v))
        try:
            yield next(first) if rng.random() > p_new else next(second)
        except StopIteration:
            return


def _hyperplane(features: int, drifting: int, change: float) -> Events:
    return lambda seed, n: synth.Hyperplane(
        seed=seed,
        n_features=features,
        n_drift_features=drifting,
        mag_change=change,
        noise_percentage=0.05,
    )


def _rbf(classes: int, features: int, centroids: int, speed: float, drifting: int) -> Events:
    if speed == 0:
        return lambda seed, n: synth.RandomRBF(
            seed_model=seed,
            seed_sample=seed + 1,
            n_classes=classes,
            n_features=features,
            n_centroids=centroids,
        )
    return lambda seed, n: synth.RandomRBFDrift(
        seed_model=seed,
        seed_sample=seed + 1,
        n_classes=classes,
        n_features=features,
        n_centroids=centroids,
        change_speed=speed,
        n_drift_centroids=drifting,
    )


def _agrawal_abrupt(functions: Sequence[int]) -> Events:
    return lambda seed, n: _abrupt(
        [synth.Agrawal(classification_function=f, seed=seed + f) for f in functions], n
    )


def _agrawal_gradual(first: int, second: int, width: int, perturbation: float) -> Events:
    return lambda seed, n: _gradual(
        synth.Agrawal(classification_function=first, seed=seed, perturbation=perturbation),
        synth.Agrawal(classification_function=second, seed=seed + 1, perturbation=perturbation),
        position=n // 2,
        width=width,
        seed=seed,
    )


def _river(name: str) -> Events:
    return lambda seed, n: getattr(datasets, name)()


def _needs_path(seed: int, n: int) -> Iterable[Example]:
    raise ValueError("this stream is read from a file: give its path")


def _read_csv(path: Path, target: str) -> Iterator[Example]:
    """A recorded CSV stream with numeric features (Elec2)."""
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            label = row.pop(target)
            yield {k: float(v) for k, v in row.items()}, label


STREAMS: tuple[BenchStream, ...] = (
    # Rotating hyperplanes: 5% label noise; "slow" rotates 0.001 per event, "fast" 0.01.
    BenchStream(
        "hyperplane-2f-slow",
        "hyperplane",
        "2 features, both rotating slowly",
        _hyperplane(2, 2, 0.001),
    ),
    BenchStream(
        "hyperplane-8f-fast",
        "hyperplane",
        "8 features, 4 rotating fast",
        _hyperplane(8, 4, 0.01),
    ),
    BenchStream(
        "hyperplane-10f-slow",
        "hyperplane",
        "10 features, 2 rotating slowly",
        _hyperplane(10, 2, 0.001),
    ),
    BenchStream(
        "hyperplane-20f-fast",
        "hyperplane",
        "20 features, 10 rotating fast",
        _hyperplane(20, 10, 0.01),
    ),
    BenchStream(
        "hyperplane-50f-slow",
        "hyperplane",
        "50 features, 10 rotating slowly",
        _hyperplane(50, 10, 0.001),
    ),
    # LED digits: 10 classes, 7 relevant and 17 irrelevant binary features, 10% noise.
    BenchStream(
        "led",
        "led",
        "no drift",
        lambda seed, n: synth.LED(seed=seed, noise_percentage=0.1, irrelevant_features=True),
    ),
    BenchStream(
        "led-drift",
        "led",
        "1 then 5 relevant features swapped with irrelevant ones (abrupt, in the middle)",
        lambda seed, n: _abrupt(
            [
                synth.LEDDrift(
                    seed=seed, noise_percentage=0.1, irrelevant_features=True, n_drift_features=k
                )
                for k in (1, 5)
            ],
            n,
        ),
    ),
    # Random RBF: Gaussian clusters of random classes; moving centroids drift.
    BenchStream(
        "rbf-2c-moving",
        "rbf",
        "2 classes, 10 features, 50 centroids all moving (speed 1e-3)",
        _rbf(2, 10, 50, 0.001, 50),
    ),
    BenchStream(
        "rbf-4c-static",
        "rbf",
        "4 classes, 10 features, 50 centroids, no drift",
        _rbf(4, 10, 50, 0.0, 0),
    ),
    BenchStream(
        "rbf-5c-moving-slow",
        "rbf",
        "5 classes, 10 features, 25 centroids all moving (speed 1e-4)",
        _rbf(5, 10, 25, 0.0001, 25),
    ),
    BenchStream(
        "rbf-10c-moving",
        "rbf",
        "10 classes, 20 features, 50 centroids of which 25 moving (speed 1e-3)",
        _rbf(10, 20, 50, 0.001, 25),
    ),
    # SEA: 3 features (1 irrelevant), 10% label noise.
    BenchStream(
        "sea-abrupt",
        "sea",
        "the four concepts in turn (abrupt drifts at each quarter)",
        lambda seed, n: _abrupt(
            [synth.SEA(variant=v, noise=0.1, seed=seed + v) for v in range(4)], n
        ),
    ),
    BenchStream(
        "sea-gradual",
        "sea",
        "concept 1 to concept 3, gradual (3,000 events wide, centred)",
        lambda seed, n: _gradual(
            synth.SEA(variant=1, noise=0.1, seed=seed),
            synth.SEA(variant=3, noise=0.1, seed=seed + 3),
            position=n // 2,
            width=3000,
            seed=seed,
        ),
    ),
    # Sine: 2 features (and 2 irrelevant ones with noise).
    BenchStream(
        "sine-abrupt",
        "sine",
        "functions 0, 1, 2, 3 in turn (abrupt, each quarter; 1 and 3 reverse 0 and 2)",
        lambda seed, n: _abrupt(
            [synth.Sine(classification_function=f, seed=seed + f) for f in range(4)], n
        ),
    ),
    BenchStream(
        "sine-gradual-noise",
        "sine",
        "function 0 to 2, gradual (2,000 wide, centred), 2 irrelevant features",
        lambda seed, n: _gradual(
            synth.Sine(classification_function=0, seed=seed, has_noise=True),
            synth.Sine(classification_function=2, seed=seed + 2, has_noise=True),
            position=n // 2,
            width=2000,
            seed=seed,
        ),
    ),
    BenchStream(
        "stagger",
        "stagger",
        "concepts 0, 1, 2 in turn (abrupt, each third)",
        lambda seed, n: _abrupt(
            [synth.STAGGER(classification_function=f, seed=seed + f) for f in range(3)], n
        ),
    ),
    # Agrawal: 9 loan-applicant features, 10 classification functions (River's 0-9).
    BenchStream(
        "agrawal-1-4-gradual",
        "agrawal",
        "function 1 to 4, gradual (750 wide, centred)",
        _agrawal_gradual(1, 4, 750, 0.0),
    ),
    BenchStream(
        "agrawal-abrupt",
        "agrawal",
        "functions 2, 5, 8 in turn (abrupt, each third)",
        _agrawal_abrupt((2, 5, 8)),
    ),
    BenchStream(
        "agrawal-gradual-slow",
        "agrawal",
        "function 3 to 7, gradual (5,000 wide, centred), 5% perturbation",
        _agrawal_gradual(3, 7, 5000, 0.05),
    ),
    BenchStream(
        "agrawal-static",
        "agrawal",
        "function 6, no drift, 10% perturbation",
        lambda seed, n: synth.Agrawal(classification_function=6, seed=seed, perturbation=0.1),
    ),
    BenchStream(
        "mixed-abrupt",
        "mixed",
        "function 0 then 1 (abrupt, in the middle)",
        lambda seed, n: _abrupt(
            [synth.Mixed(classification_function=f, seed=seed + f) for f in (0, 1)], n
        ),
    ),
    BenchStream(
        "waveform",
        "waveform",
        "3 classes, 21 features, no drift",
        lambda seed, n: synth.Waveform(seed=seed),
    ),
    BenchStream(
        "waveform-noise",
        "waveform",
        "3 classes, 21 features and 19 noise features",
        lambda seed, n: synth.Waveform(seed=seed, has_noise=True),
    ),
    BenchStream(
        "randomtree-2c",
        "randomtree",
        "River's defaults: 2 classes, 5 numeric and 5 categorical features (as numbers), depth 5",
        lambda seed, n: synth.RandomTree(seed_tree=seed, seed_sample=seed + 1),
    ),
    BenchStream(
        "randomtree-5c-deep",
        "randomtree",
        "5 classes, 10 numeric features, depth 8",
        lambda seed, n: synth.RandomTree(
            seed_tree=seed,
            seed_sample=seed + 1,
            n_classes=5,
            n_num_features=10,
            n_cat_features=0,
            max_tree_depth=8,
        ),
    ),
    # Recorded data, the same events for every seed.
    BenchStream(
        "elec2",
        "real",
        "Elec2, Australian electricity prices (2 classes, 6 features), "
        "the first 15,000 of 45,312 events",
        _needs_path,
        recorded=True,
        path_option="elec2",
    ),
    BenchStream(
        "shuttle",
        "real",
        "River's Shuttle (2 classes, 7% anomalies, 9 features), the first 15,000 of 49,097 events",
        _river("Shuttle"),
        recorded=True,
    ),
    BenchStream(
        "phishing",
        "real",
        "River's Phishing (2 classes, 9 features), all 1,250 events",
        _river("Phishing"),
        recorded=True,
    ),
    BenchStream(
        "bananas",
        "real",
        "River's Bananas (2 classes, 2 features), all 5,300 events",
        _river("Bananas"),
        recorded=True,
    ),
    BenchStream(
        "image-segments",
        "real",
        "River's ImageSegments (7 classes, 18 features), all 2,310 events",
        _river("ImageSegments"),
        recorded=True,
    ),
)
STREAM: Mapping[str, BenchStream] = {s.name: s for s in STREAMS}


def _rank(text: str) -> str:
    return hashlib.sha256(f"{SPLIT_SALT}:{text}".encode()).hexdigest()


def split_halves(streams: Iterable[BenchStream]) -> dict[str, str]:
    """Each stream's half, :data:`REPORTING` or :data:`TUNING`, by the fixed rule.

    Ordered by the salted SHA-256 of the family's name, then of the stream's name; the
    first goes to the reporting half, the second to the tuning half, and so on.
    """
    order = sorted(streams, key=lambda s: (_rank(s.family), _rank(s.name)))
    return {s.name: REPORTING if i % 2 == 0 else TUNING for i, s in enumerate(order)}


def write_csv(examples: Iterable[Example], path: Path) -> int:
    """Write a labeled stream as the runners read it: float features, then ``target``.

    Returns the number of rows. Every event must have the first event's features (the
    benchmark streams are dense); a missing one is an error, not a silent blank. Booleans
    and categories coded as integers are written as floats; labels as text.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    # One temporary file per process: two runs exporting the same stream into the shared
    # cache at once each write their own and the last rename wins (same content).
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        keys: list[Any] = []
        for x, y in examples:
            if not keys:
                keys = list(x)
                writer.writerow([*map(str, keys), "target"])
            try:
                row = [repr(float(x[k])) for k in keys]
            except KeyError as exc:
                raise ValueError(f"event {n} of {path.name} lacks feature {exc}") from None
            writer.writerow([*row, str(y)])
            n += 1
    tmp.replace(path)  # a killed export leaves no half-written stream behind
    return n


def csv_name(stream: BenchStream, seed: int, n: int = N_EVENTS) -> str:
    """The file a stream is exported to for ``seed``: its name, a digest of its definition
    (a changed stream is a new file, and a new job) and the seed (0 for recorded data)."""
    digest = hashlib.sha256(f"{stream.name}|{stream.about}|{n}".encode()).hexdigest()[:8]
    return f"{stream.name}-{digest}-s{0 if stream.recorded else seed}.csv"


def export(
    streams: Iterable[BenchStream],
    seeds: int | range,
    out: Path,
    paths: Mapping[str, Path] | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[tuple[str, int], Path]:
    """Write every stream for seeds ``0 .. seeds-1`` (or the seeds of a range) as CSV under
    ``out`` (once: files there are kept); the path of each ``(stream, seed)``. ``paths``
    gives the files of the streams read from a path (``{"elec2": ...}``)."""
    csvs: dict[tuple[str, int], Path] = {}
    for stream in streams:
        path_in = (paths or {}).get(stream.path_option or "")
        for seed in range(seeds) if isinstance(seeds, int) else seeds:
            path = out / csv_name(stream, seed)
            if not path.exists():
                rows = write_csv(stream.events(seed, path=path_in), path)
                if log:
                    log(f"bench: {stream.name} seed {seed}: {rows:,} events -> {path}")
            csvs[(stream.name, seed)] = path
    return csvs


# The systems, each run by bench/peers/<system>_peer.py in its own environment.
SYSTEMS = ("stream-al", "scikit-activeml", "river", "moa")
# The peers' strategies and their models: stream-al's tree settings for scarce labels (as
# stream-al's learner uses them today) and the library's own default Hoeffding tree; the
# better of the two is the peer's. Every stream strategy of each library, but two of
# scikit-activeml's: its StreamRandomSampling is random sampling around River's tree, which
# River's runner does at a fiftieth of the cost ("random"), and its FixedUncertainty,
# which spends next to nothing (so is never compared at stream-al's label fraction), is
# MOA's FixedUncertainty too.
PEER_STRATEGIES: dict[str, tuple[str, ...]] = {
    "scikit-activeml": (
        "VariableUncertainty",
        "RandomVariableUncertainty",
        "Split",
        "StreamProbabilisticAL",
    ),
    "river": ("EntropySampler", "random"),
    "moa": ("FixedUncertainty", "VarUncertainty", "RandVarUncertainty", "SelSampling", "ALRandom"),
}
PEER_MODELS = ("hoeffding-tree", "hoeffding-tree-default")
# References with every label: stream-al's plain model (``full``), stream-al's learner
# with its drift reaction (``full-drift``), and River's tree (the river runner's ``full``).
FULL = "full"
FULL_DRIFT = "full-drift"
# The tree stream-al served before issue 16 (its "today's tuned tree"): every label, with
# and without the drift reaction, the reference of the first criterion.
TUNED_TREE = "hoeffding-tree"
# Its drift reaction as it was then: ADWIN at delta 0.002 (the learner's default became
# 0.05 later in issue 16). A job field outside JOB_KEYS, so its recorded runs still match.
TUNED_TREE_DRIFT_DELTA = 0.002


def default_learner() -> tuple[str, str]:
    """stream-al's default model and strategy (``LearnerSpec()``), whatever they are now."""
    from stream_al.core.spec import LearnerSpec

    spec = LearnerSpec()
    return spec.model, spec.strategy


@dataclass(frozen=True)
class Plan:
    """What is run: stream-al's default and random sampling at every budget, delay and
    seed, its references at delay 0; the peers at fewer budgets and seeds, delay 0."""

    budgets: tuple[float, ...] = (0.02, 0.05, 0.1, 0.2)
    delays: tuple[int, ...] = (0, 500)
    seeds: int = 10
    peer_budgets: tuple[float, ...] = (0.02, 0.1)
    peer_seeds: int = 5
    peer_models: tuple[str, ...] = PEER_MODELS
    max_events: int | None = None


def jobs_for(
    system: str, csvs: Mapping[tuple[str, int], Path], plan: Plan = Plan()
) -> list[dict[str, Any]]:
    """The jobs of one system on the exported streams ``csvs``, grouped by file."""
    jobs: list[dict[str, Any]] = []
    for (stream, seed), path in sorted(csvs.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        common: dict[str, Any] = {"stream": stream, "csv": str(path), "target": "target"}
        common |= {"seed": seed, "max_events": plan.max_events}
        if system == "stream-al":
            if seed >= plan.seeds:
                continue
            model, default = default_learner()
            runs = [
                (model, s, b, d)
                for d in plan.delays
                for b in plan.budgets
                for s in (default, "random")
            ]
            runs += [(model, FULL, 1.0, 0), (model, FULL_DRIFT, 1.0, 0)]
            if model != TUNED_TREE:
                runs += [(TUNED_TREE, FULL, 1.0, 0), (TUNED_TREE, FULL_DRIFT, 1.0, 0)]
        elif system == "river":  # River's trees with every label: on stream-al's seeds
            runs = [(m, FULL, 1.0, 0) for m in plan.peer_models] if seed < plan.seeds else []
            if seed < plan.peer_seeds:
                runs += [
                    (m, s, b, 0)
                    for m in plan.peer_models
                    for b in plan.peer_budgets
                    for s in PEER_STRATEGIES[system]
                ]
        else:
            if seed >= plan.peer_seeds:
                continue
            runs = [
                (m, s, b, 0)
                for m in plan.peer_models
                for b in plan.peer_budgets
                for s in PEER_STRATEGIES[system]
            ]
        for model, strategy, budget, delay in runs:
            job = {**common, "model": model, "strategy": strategy, "budget": budget}
            if system == "stream-al" and (model, strategy) == (TUNED_TREE, FULL_DRIFT):
                job["drift_delta"] = TUNED_TREE_DRIFT_DELTA
            if strategy == "EntropySampler":  # one calibration per stream
                job["calibration_csv"] = str(csvs.get((stream, 0), path))
            jobs.append({**job, "delay": delay})
    return jobs
