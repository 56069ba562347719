"""``stream-al strategies|models|settings|metrics``: what there is to choose from."""

from __future__ import annotations

import argparse
import inspect

from stream_al.config import Settings
from stream_al.core.models import MODELS
from stream_al.core.strategies import DROPPED, STRATEGIES

__all__ = ["cmd_metrics", "cmd_models", "cmd_settings", "cmd_strategies"]


def cmd_strategies(args: argparse.Namespace, settings: Settings) -> int:
    """Each query strategy, its first docstring line and its parameters."""
    for name, cls in STRATEGIES.items():
        if name in DROPPED:
            continue
        doc = (cls.__doc__ or "").strip().splitlines()[0]
        params = [
            f"{p.name}={p.default!r}"
            for p in inspect.signature(cls).parameters.values()
            if p.name != "seed"
        ]
        print(f"{name:34s} {doc}")
        if params:
            print(f"{'':34s} parameters: {', '.join(params)}")
    print("\ndropped (still accepted by name, not recommended):")
    for name, why in DROPPED.items():
        print(f"{name:34s} {why}")
    return 0


def cmd_models(args: argparse.Namespace, settings: Settings) -> int:
    """Each model and what it builds."""
    from stream_al.core.models import make_model

    for name in MODELS:
        print(f"{name:26s} {make_model(name)}")
    return 0


def cmd_settings(args: argparse.Namespace, settings: Settings) -> int:
    """Every setting as a Markdown table."""
    from stream_al.cli.reference import markdown_table, settings_rows

    print(markdown_table(("variable", "default", "meaning"), settings_rows()))
    return 0


def cmd_metrics(args: argparse.Namespace, settings: Settings) -> int:
    """Every Prometheus metric as a Markdown table."""
    from stream_al.cli.reference import markdown_table, metric_rows

    print(markdown_table(("metric", "type", "meaning"), metric_rows()))
    return 0
