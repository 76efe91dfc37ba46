"""What feedback means for an experiment: which values a log holds, whether it counts, and the statistics.

Plain functions of plain values, so the rules can be read and tested without a server:

- A log (one sample of a chat answer, `data[].id`) holds, per feedback type, its current values.
  `rating`, `correction` and `comment` hold one value (a new one replaces it); every other type
  (`action`, `issue`, custom types) holds a set (a new value is added). `unset` removes the given value,
  or every value of the type when none is given (upstream: the value is "left blank when unsetting
  rating, correction or comment").
- The log counts for its experiment config when it holds a value of a type named in the experiment's
  `positive_labels`: a success if one of those values is a positive label (same type and value), a
  failure otherwise. Values of other types do not count.
- A config's statistics are the Beta(1 + successes, 1 + failures) posterior of its success rate:
  `mean` and `spread` are that posterior's mean and standard deviation.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from contracts.experiments import PositiveLabel

SINGLE_VALUED_TYPES = frozenset({"rating", "correction", "comment"})

# A log's feedback: type -> its current values, in the order they were given.
LogFeedback = dict[str, list[str]]


def apply_feedback(held: LogFeedback, type_: str, value: str | None, unset: bool) -> None:
    """Change what a log holds as one feedback item says (in place)."""
    if unset:
        if value is None or type_ in SINGLE_VALUED_TYPES:
            held.pop(type_, None)
        elif value in held.get(type_, []):
            held[type_].remove(value)
            if not held[type_]:
                del held[type_]
        return
    assert value is not None  # the request model requires a value unless unsetting
    if type_ in SINGLE_VALUED_TYPES:
        held[type_] = [value]
    elif value not in held.setdefault(type_, []):
        held[type_].append(value)


def outcome(held: LogFeedback, positive_labels: Iterable[PositiveLabel]) -> bool | None:
    """True (success), False (failure) or None (does not count) for a log's current feedback."""
    labels = list(positive_labels)
    counted_types = {label.type for label in labels}
    if not any(type_ in counted_types for type_ in held):
        return None
    return any(label.value in held.get(label.type, ()) for label in labels)


def posterior(successes: int, failures: int) -> tuple[float, float]:
    """Mean and standard deviation of Beta(1 + successes, 1 + failures), both in [0, 1]."""
    a, b = 1.0 + successes, 1.0 + failures
    total = a + b
    return a / total, math.sqrt(a * b / (total * total * (total + 1.0)))
