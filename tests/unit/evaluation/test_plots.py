"""The learning-curve PNG is written where the command says it is."""

from __future__ import annotations

from pathlib import Path

from stream_al.evaluation.plots import plot_learning_curves


def test_a_path_without_a_suffix_gets_png_and_the_written_file_is_returned(
    tmp_path: Path,
) -> None:
    curves = {"split": [[100, 10, 0.6], [200, 20, 0.7]], "full": [[100, 100, 0.8]]}
    written = plot_learning_curves(curves, "t", tmp_path / "curves")
    assert written == tmp_path / "curves.png" and written.stat().st_size > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves.png"]
