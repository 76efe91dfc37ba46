"""The one body reader: a request's body, read once and within the limits, before anything parses it.

Every door reads bodies here: the API (whose bodies are journaled) and `/__admin` (whose are not). A body
whose `Content-Length` says it is over `--max-body-bytes` is refused before a byte of it is read (so
`Expect: 100-continue` never gets `100 Continue`), one that turns out larger is cut at the limit, and
either gets 413 with `Connection: close` (the rest is never read). Then, before any parsing, one look at
the bytes (`count_values`) counts its JSON values against `--max-body-values`; the journal keeps the body
with every key taken out (`provider_keys`, in steps for a large one).
"""

from __future__ import annotations

from starlette.types import Message, Receive

from mockserver.errors import ApiError
from mockserver.jsonio import over_values


def too_large(limit: int) -> ApiError:
    return ApiError(413, f"Request body is larger than this server's limit of {limit} bytes.", {"Connection": "close"})


def too_many_values(values: int, limit: int) -> ApiError:
    return ApiError(413, f"Request body holds about {values} JSON values and keys, over this server's limit of "
                         f"{limit} (--max-body-values).")


async def read_body(receive: Receive, limit: int, content_length: str | None = None) -> tuple[bytes, bool, bool]:
    """(the body, whether it passed `limit` bytes, whether the client left before it ended). A `Content-Length`
    over the limit is refused before a byte is read (so `Expect: 100-continue` never gets `100 Continue`)."""
    if content_length is not None and content_length.isdigit() and int(content_length) > limit:
        return b"", True, False
    first = await receive()
    if first["type"] == "http.request" and not first.get("more_body", False):
        body = first.get("body", b"")
        if len(body) <= limit:
            return body, False, False  # the common case: the whole body in one message
    return await _read_rest(first, receive, limit)


async def _read_rest(first: Message, receive: Receive, limit: int) -> tuple[bytes, bool, bool]:
    chunks: list[bytes] = []
    size = 0
    message = first
    while True:
        if message["type"] != "http.request":
            return b"".join(chunks), False, True
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            chunks.append(chunk[: max(0, limit - (size - len(chunk)))])
            return b"".join(chunks), True, False
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), False, False
        message = await receive()


def count_values(body: bytes, max_values: int, whole: bool = True) -> int | None:
    """For a `whole` body: how many JSON values it holds when that is over `max_values` (None when within).
    The count comes before any parsing, so a body refused for its values is never parsed."""
    return over_values(body, max_values) if whole and len(body) > max_values else None
