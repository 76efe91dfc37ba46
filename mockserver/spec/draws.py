"""The draw step of the pipeline: which of an experiment's active configs answers a sample.

Two policies, each a pure function of the experiment's own seeded stream (`MockState.draw_config`)
and the candidates, so the nth draw of an experiment is the same on every run with the same seed and,
for `adaptive`, the same feedback before it:

- `weighted` (`pick_weighted`): one unit draw in [0, 1) against the configs' weights.
- `adaptive` (`pick_thompson`): Thompson sampling. Each config's success rate gets a sample from its
  Beta(1 + successes, 1 + failures) posterior; the highest sample wins (the first on a tie).

The Beta sampler is written out here (Marsaglia and Tsang's gamma method) instead of calling
`random.betavariate`: CPython only promises that `random()` gives the same numbers across versions,
not its distribution methods, and the draws must not change when Python does.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Protocol, TypeVar


class Weighted(Protocol):
    weight: float


class Scored(Protocol):
    successes: int
    failures: int


W = TypeVar("W", bound=Weighted)
S = TypeVar("S", bound=Scored)


def pick_weighted(unit: float, candidates: Sequence[W]) -> W:
    """The candidate whose share of the total weight covers `unit` (candidates in declaration order)."""
    point = unit * sum([c.weight for c in candidates])
    for candidate in candidates:
        point -= candidate.weight
        if point < 0:
            return candidate
    return candidates[-1]


def standard_normal(rng: random.Random) -> float:
    """Box-Muller, one value per two uniforms (1 - u keeps the logarithm finite)."""
    return math.sqrt(-2.0 * math.log(1.0 - rng.random())) * math.cos(2.0 * math.pi * rng.random())


def gamma_sample(rng: random.Random, shape: float) -> float:
    """A Gamma(shape, 1) sample for shape >= 1 (Marsaglia and Tsang, 2000)."""
    d = shape - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    while True:
        x = standard_normal(rng)
        v = 1.0 + c * x
        if v <= 0.0:
            continue
        v = v * v * v
        u = 1.0 - rng.random()
        if u < 1.0 - 0.0331 * x ** 4 or math.log(u) < 0.5 * x * x + d * (1.0 - v + math.log(v)):
            return d * v


def beta_sample(rng: random.Random, a: float, b: float) -> float:
    """A Beta(a, b) sample for a, b >= 1, as X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b)."""
    x = gamma_sample(rng, a)
    return x / (x + gamma_sample(rng, b))


def pick_thompson(rng: random.Random, candidates: Sequence[S]) -> S:
    """Thompson sampling: the candidate whose posterior sample is highest (candidates in order)."""
    best, best_score = candidates[0], -1.0
    for candidate in candidates:
        score = beta_sample(rng, 1.0 + candidate.successes, 1.0 + candidate.failures)
        if score > best_score:
            best, best_score = candidate, score
    return best
