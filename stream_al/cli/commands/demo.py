"""``stream-al demo``: the whole loop in one process on a drifting stream."""

from __future__ import annotations

import argparse

from stream_al.cli import report
from stream_al.cli.options import learner_settings, stream_spec
from stream_al.config import Settings
from stream_al.runtime.console import Progress

__all__ = ["cmd_demo"]

DEFAULT_PLOT = "stream-al-demo.png"


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from stream_al.evaluation.demo import run_demo
    from stream_al.evaluation.plots import matplotlib_available

    learner = learner_settings(args, settings.learner)
    spec = stream_spec(args)
    progress = Progress(enabled=not args.quiet)
    result = run_demo(learner, spec, delay=args.delay, progress=progress)
    report.print_demo(result, spec, learner, args.delay)
    plot_path = args.plot
    if plot_path is None and not args.no_plot:
        plot_path = DEFAULT_PLOT if matplotlib_available() else None
    curves = {learner.strategy: result.run.curve, "random": result.random.curve}
    curves["full labels"] = result.full.curve
    title = f"stream-al demo: {spec.spec}, budget {learner.budget:g}"
    report.plot_curves(plot_path, curves, title)
    return 0
