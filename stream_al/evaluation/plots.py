"""Learning-curve plots (needs the ``plot`` extra: ``pip install stream-al[plot]``).

Two panels: prequential accuracy against events seen, and against labels used, for the
strategy, random sampling at the same budget and the model with every label.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["matplotlib_available", "plot_learning_curves"]

Curve = Sequence[Sequence[float]]


def matplotlib_available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def plot_learning_curves(curves: Mapping[str, Curve], title: str, path: str | Path) -> Path:
    """Write a PNG of ``curves`` (name -> list of ``[events, labels, accuracy]``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (by_events, by_labels) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, curve in curves.items():
        events = [p[0] for p in curve]
        labels = [p[1] for p in curve]
        accuracy = [100.0 * p[2] for p in curve]
        style = "--" if name.startswith("full") else "-"
        by_events.plot(events, accuracy, style, label=name)
        if not name.startswith("full"):
            by_labels.plot(labels, accuracy, style, label=name)
    by_events.set_xlabel("events seen")
    by_labels.set_xlabel("labels used")
    for ax in (by_events, by_labels):
        ax.set_ylabel("prequential accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
    out = Path(path)
    if not out.suffix:  # matplotlib would add it: name the file it writes
        out = out.with_suffix(".png")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
