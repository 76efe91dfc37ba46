"""Every random choice the mock makes comes from here: seeded, keyed, and the same on any machine.

A choice is keyed by what it is about (a namespace and parts such as an experiment id and a counter),
hashed with SHA-256 together with the seed. No global RNG, no clock, no `hash()` of strings.
"""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime, timedelta

from faker import Faker

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# Maps each digest byte to a base-62 character (a slight bias towards the first 8, harmless for ids).
_BYTE_TO_BASE62 = bytes(ord(_BASE62[i % 62]) for i in range(256))
ID_LENGTH = 21  # the length of the real service's ids after the prefix (e.g. pr_3usCu3dAkgrXTlufrvPs7)

# Timestamps the mock reports start here and advance one second per state change: a logical clock.
LOGICAL_EPOCH = datetime(2024, 8, 5, tzinfo=UTC)
_LOGICAL_EPOCH_UNIX = int(LOGICAL_EPOCH.timestamp())


def digest(seed: int, *parts: object) -> bytes:
    """SHA-256 of the seed and the parts, joined unambiguously."""
    text = "\x1f".join([str(seed), *(str(p) for p in parts)])
    return hashlib.sha256(text.encode("utf-8")).digest()


def derive_int(seed: int, *parts: object) -> int:
    """A 64-bit integer determined by the seed and the parts."""
    return int.from_bytes(digest(seed, *parts)[:8], "big")


def derive_random(seed: int, *parts: object) -> random.Random:
    """A private `random.Random` for one keyed choice."""
    return random.Random(derive_int(seed, *parts))


def make_id(prefix: str, seed: int, *parts: object) -> str:
    """An id like the real service's (`prefix_` + 21 base-62 characters), derived from seed and parts."""
    return prefix + "_" + digest(seed, prefix, *parts)[:ID_LENGTH].translate(_BYTE_TO_BASE62).decode("ascii")


class KeyedStreams:
    """Independent seeded random streams, one per key: the nth value drawn for a key depends only on
    (seed, key, n). Cheaper than hashing per value, and just as reproducible (Python's Mersenne
    Twister gives the same sequence for the same integer seed on every platform)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._streams: dict[tuple[object, ...], random.Random] = {}

    def stream(self, *key: object) -> random.Random:
        try:
            return self._streams[key]
        except KeyError:
            rng = self._streams[key] = random.Random(derive_int(self.seed, "stream", *key))
            return rng

    def forget(self, *key: object) -> None:
        """Drop a key's stream; used again, it starts from its first value."""
        self._streams.pop(key, None)

    def new_id(self, prefix: str) -> str:
        """The next id of a kind: `prefix_` and 21 base-62 characters."""
        raw = self.stream("id", prefix).getrandbits(8 * ID_LENGTH).to_bytes(ID_LENGTH, "big")
        return prefix + "_" + raw.translate(_BYTE_TO_BASE62).decode("ascii")


def logical_time(tick: int) -> str:
    """ISO 8601 timestamp for a tick of the logical clock."""
    return (LOGICAL_EPOCH + timedelta(seconds=tick)).isoformat().replace("+00:00", "Z")


def logical_unix(tick: int) -> int:
    """Unix seconds for a tick of the logical clock (provider payloads use `created`)."""
    return _LOGICAL_EPOCH_UNIX + tick  # one tick is one second


class SeededFaker:
    """One shared Faker, reseeded for each use: building a Faker costs ~1 ms, reseeding ~12 µs."""

    def __init__(self) -> None:
        self._faker = Faker("en_US")

    def seeded(self, seed: int, *parts: object) -> Faker:
        """The shared Faker, reseeded for one keyed use. Use it before any `await`."""
        self._faker.seed_instance(derive_int(seed, *parts))
        return self._faker
