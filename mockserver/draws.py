"""The draw step of the pipeline: which of an experiment's active configs answers a sample.

A pure function of a unit draw in [0, 1) and the configs' weights; the unit comes from the
experiment's own seeded stream (`MockState.draw_config`), so the nth draw of an experiment is the
same on every run with the same seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar


class Weighted(Protocol):
    weight: float


W = TypeVar("W", bound=Weighted)


def pick_weighted(unit: float, candidates: Sequence[W]) -> W:
    """The candidate whose share of the total weight covers `unit` (candidates in declaration order)."""
    point = unit * sum(c.weight for c in candidates)
    for candidate in candidates:
        point -= candidate.weight
        if point < 0:
            return candidate
    return candidates[-1]
