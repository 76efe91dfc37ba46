"""The `X-API-KEY` check. Keys are compared in constant time, never echoed, logged or stored."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Collection
from functools import lru_cache

MISSING_KEY = (
    "Missing X-API-KEY header. Any non-empty key is accepted unless the mock was started with --api-key."
)
WRONG_KEY = "The X-API-KEY sent is not one of the keys this mock server was started with (--api-key)."


@lru_cache(maxsize=16)
def _allowed_digests(allowed: tuple[str, ...]) -> tuple[bytes, ...]:
    """Configured keys are text: a client sends them as UTF-8."""
    return tuple(hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest() for key in allowed)


def key_matches(sent: str, allowed: Collection[str]) -> bool:
    """Whether `sent` is one of `allowed`, taking the same time whichever key (if any) it matches.

    Both sides are hashed first, so neither the length nor the content of a configured key shows in
    the timing; every configured key is compared (no early exit).
    """
    digest = hashlib.sha256(sent.encode("latin-1", "replace")).digest()  # header text is latin-1 decoded
    found = False
    for candidate in _allowed_digests(tuple(allowed)):
        found |= hmac.compare_digest(digest, candidate)
    return found


def key_problem(key: str | None, allowed: Collection[str]) -> str | None:
    """Why `key` would be refused (a 401's detail) on a route that needs one: none sent, or one that
    `allowed` (when not empty) does not hold. None for a key that is accepted. The door asks once per request:
    a refused key has no world of its own, and a route that needs a key answers 401 with this detail."""
    if not key:
        return MISSING_KEY
    if allowed and not key_matches(key, allowed):
        return WRONG_KEY
    return None
