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
import random
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from river import datasets
from river.datasets import synth

from stream_al.core.types import Example

__all__ = [
    "N_EVENTS",
    "REPORTING",
    "SPLIT_SALT",
    "STREAM",
    "STREAMS",
    "TUNING",
    "BenchStream",
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
    tmp = path.with_suffix(".tmp")
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
