"""Snapshots of a learner: a pickle without the generators River's trees never draw from.

Examples
--------
>>> import io, pickle
>>> from river.proba import Gaussian
>>> out = io.BytesIO()
>>> SnapshotPickler(out).dump([Gaussian()])
>>> len(out.getvalue()) < 500  # the unseeded generator's 2.5 kB are left out
True

"""

from __future__ import annotations

import pickle
from typing import Any

from river.proba import Gaussian

__all__ = ["SnapshotPickler", "unseeded_gaussian"]


def unseeded_gaussian(var: Any) -> Gaussian:
    """A River ``Gaussian`` with the running variance ``var`` and a new unseeded generator."""
    gaussian = Gaussian()
    gaussian._var = var
    return gaussian


class SnapshotPickler(pickle.Pickler):
    """Pickles a learner without the generators of its trees' unseeded Gaussians.

    Every Gaussian of a tree's splitters holds a ``random.Random`` seeded from the OS
    (2.5 kB of state each) that learning and prediction never draw from: nine tenths of a
    grown tree's pickle. Such a Gaussian comes back with a new unseeded generator, which
    is all it had; seeded generators (the strategies') are pickled whole.
    """

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is Gaussian and obj.seed is None:
            return unseeded_gaussian, (obj._var,)
        return NotImplemented
