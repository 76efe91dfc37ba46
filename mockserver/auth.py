"""The `X-API-KEY` check. Keys are compared, never echoed, logged or stored."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from mockserver.errors import ApiError

MISSING_KEY = (
    "Missing X-API-KEY header. Any non-empty key is accepted unless the mock was started with --api-key."
)
WRONG_KEY = "The X-API-KEY sent is not one of the keys this mock server was started with (--api-key)."


def check_api_key(headers: Mapping[str, str], allowed: Collection[str]) -> None:
    key = headers.get("x-api-key")
    if not key:
        raise ApiError(401, MISSING_KEY)
    if allowed and key not in allowed:
        raise ApiError(401, WRONG_KEY)
