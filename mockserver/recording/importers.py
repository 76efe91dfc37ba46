"""Cassettes from other tools' recordings: vcrpy cassettes (YAML or JSON) and HAR files.

Each recorded call becomes an exchange, redacted like everything else. A streamed body (a
`text/event-stream` answer, which both tools keep as one text) is cut into its events at blank lines.
Neither tool records when each event arrived: vcrpy records no time at all (pace `none`: replay
never waits), a HAR records how long the answer took to start (`wait`) and to arrive (`receive`), over
which the events are spread evenly (pace `estimated`). Only calls whose URL path matches `include`
(default: a `/v4/` segment, the API's version prefix) are taken; the rest (pages, scripts, other
services) are listed as skipped, with why.
"""

from __future__ import annotations

import binascii
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import re2
import yaml
from pydantic import ValidationError

from mockserver.files import safe_yaml
from mockserver.files.plaindata import MAX_VALUES, NotPlainData, check_plain
from mockserver.recording.capture import build_exchange
from mockserver.recording.events import is_event_stream, split_events
from mockserver.recording.har import MARKER, Cassette, Exchange, new_cassette, unpack
from mockserver.recording.redact import redact_exchange
from mockserver.recording.store import CassetteError, describe_error, parse_cassette, read_cassette_text

DEFAULT_INCLUDE = r"/v4/"
# What a recorded call of the wrong shape raises as it is read (a string where an object belongs, a
# status that is no number, a missing field): it is skipped, with why, and the import goes on.
WRONG_SHAPE = (KeyError, TypeError, ValueError, AttributeError, OverflowError)
UNKNOWN_TIME = datetime(1970, 1, 1, tzinfo=UTC)  # startedDateTime of a call recorded without a time


@dataclass
class ImportResult:
    kind: str  # what the file was, for people: "vcrpy cassette", "HAR file (Playwright 1.65.2)", ...
    exchanges: list[Exchange] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # one line per call left out, saying why


def _text_bytes(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    return json.dumps(value).encode()  # some serialisers store a JSON body already parsed


def _header_pairs(headers: Any) -> list[tuple[str, str]]:
    """vcrpy writes headers as {name: [values]} (or {name: value}); HAR as [{name, value}]."""
    if isinstance(headers, dict):
        return [(str(name), str(value)) for name, values in headers.items()
                for value in (values if isinstance(values, list) else [values])]
    return [(str(h.get("name", "")), str(h.get("value", ""))) for h in headers or [] if isinstance(h, dict)]


def _content_type(headers: list[tuple[str, str]]) -> str:
    return next((value for name, value in headers if name.lower() == "content-type"), "")


def _included(url: str, include: str) -> bool:
    """Whether the URL's path matches `include` (RE2, as the server's patterns: linear time whatever it is)."""
    try:
        path = urlsplit(url).path or "/"
    except ValueError:  # (an unparseable URL, such as `http://[::1`, has no path to match)
        return False
    return re2.search(include, path) is not None


def _problem(error: Exception) -> str:
    """Why a recorded call is not one, for the skipped list: the field missing, or what was wrong."""
    if isinstance(error, KeyError):
        return f"no {error.args[0]!r} field"
    return f"a field of the wrong type or value ({error})"


def _parse(path: Path, text: str) -> Any:
    """The document: JSON (a HAR file, or a vcrpy cassette saved as JSON), else YAML (a vcrpy cassette)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise CassetteError(f"{path}: JSON nested too deeply to read; expected a HAR file") from None
    except ValueError:
        pass
    try:
        data = safe_yaml.load(text, python_strings=True)
        # An alias is one value used in many places: more uses than the text has bytes is an alias bomb.
        check_plain(data, allow_bytes=True, max_values=max(MAX_VALUES, len(text)))
    except RecursionError:
        raise CassetteError(f"{path}: YAML nested too deeply to read; expected a vcrpy cassette") from None
    except NotPlainData as bad:
        raise CassetteError(f"{path}: not a vcrpy cassette: {bad}") from None
    except yaml.YAMLError as error:
        raise CassetteError(f"{path}: neither JSON (a HAR file) nor YAML (a vcrpy cassette): {error}") from None
    return data


def import_file(path: str | Path, include: str = DEFAULT_INCLUDE) -> ImportResult:
    """The exchanges a vcrpy cassette or a HAR file holds (a cassette of ours is taken as it is).
    Raises CassetteError if the file is neither, or `include` is not a regular expression."""
    path = Path(path)
    try:
        re2.compile(include)
    except re2.error as error:
        reason = error.args[0] if error.args else "cannot be compiled"
        reason = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
        raise CassetteError(f"--include {include!r}: invalid regular expression: {reason[:200]}") from None
    data = _parse(path, read_cassette_text(path))
    if isinstance(data, dict) and isinstance(data.get("log"), dict):
        if MARKER in data["log"]:
            return _from_ours(path, data, include)
        return _from_har(path, data["log"], include)
    if isinstance(data, dict) and isinstance(data.get("interactions"), list):
        return _from_vcrpy(data["interactions"], include)
    raise CassetteError(f"{path}: neither a HAR file (a `log` object) nor a vcrpy cassette (`interactions`)")


def _from_ours(path: Path, data: dict[str, Any], include: str) -> ImportResult:
    result = ImportResult("humanloop-mock cassette")
    for number, exchange in enumerate(parse_cassette(path, data).exchanges):
        if _included(exchange.request.url, include):
            result.exchanges.append(redact_exchange(exchange))
        else:
            result.skipped.append(f"exchange {number}: {exchange.request.method} {exchange.request.url}: "
                                  f"path does not match {include!r}")
    return result


def _events(body: bytes, content_type: str, head_ms: float, end_ms: float) -> list[tuple[float, bytes]] | None:
    """A streamed body's events, the i-th of n at `head_ms + (end_ms - head_ms) * i / n` (the last at
    `end_ms`); None if the body is no stream."""
    if not is_event_stream(content_type):
        return None
    events = split_events(body)
    return [(head_ms + (end_ms - head_ms) * number / len(events), event)
            for number, event in enumerate(events, start=1)]


def _from_vcrpy(interactions: list[Any], include: str) -> ImportResult:
    result = ImportResult("vcrpy cassette")
    for number, interaction in enumerate(interactions):
        try:
            outcome = _vcrpy_exchange(number, interaction, include)
        except WRONG_SHAPE as error:
            outcome = f"interaction {number}: not a vcrpy interaction: {_problem(error)}"
        _take(result, outcome)
    return result


def _take(result: ImportResult, outcome: Exchange | str) -> None:
    if isinstance(outcome, str):
        result.skipped.append(outcome)
    else:
        result.exchanges.append(outcome)


def _vcrpy_exchange(number: int, interaction: Any, include: str) -> Exchange | str:
    """The exchange one vcrpy interaction records, or why it is skipped."""
    request, response = interaction["request"], interaction["response"]
    method, url = str(request["method"]), str(request["uri"])
    if "status_code" in response:  # httpx cassettes of vcrpy before 5
        status, reason, body = int(response["status_code"]), "", _text_bytes(response.get("content"))
    else:
        status = int(response["status"]["code"])
        reason = str(response["status"].get("message") or "")
        body = _text_bytes((response.get("body") or {}).get("string"))
    if not _included(url, include):
        return f"interaction {number}: {method} {url}: path does not match {include!r}"
    response_headers = _header_pairs(response.get("headers"))
    try:
        return build_exchange(
            method=method, url=url, request_headers=_header_pairs(request.get("headers")),
            request_body=_text_bytes(request.get("body")), status=status, reason=reason,
            response_headers=response_headers, body=body,
            events=_events(body, _content_type(response_headers), 0.0, 0.0),
            started=UNKNOWN_TIME, pace="none", comment=f"vcrpy interaction {number}",
        )
    except ValueError as error:
        return f"interaction {number}: {method} {url}: {_why(error)}"


def _why(error: ValueError) -> str:
    """Why an exchange could not be built, in the loader's words (`response.status: ...`), not pydantic's."""
    return describe_error(error) if isinstance(error, ValidationError) else str(error)


def _har_request_body(request: dict[str, Any]) -> bytes:
    post = request.get("postData") or {}
    if "text" in post:
        return unpack(str(post["text"]), post.get("_encoding"))
    params = post.get("params") or []
    return urlencode([(p.get("name", ""), p.get("value", "")) for p in params]).encode() if params else b""


def _from_har(path: Path, log: dict[str, Any], include: str) -> ImportResult:
    creator = log.get("creator") if isinstance(log.get("creator"), dict) else {}
    entries = log.get("entries") or []
    if not isinstance(entries, list):
        raise CassetteError(f"{path}: log.entries is a {type(entries).__name__}, not a list: not a HAR file")
    tool = f"{creator.get('name') or 'unknown tool'} {creator.get('version') or ''}".strip()
    result = ImportResult(f"HAR file ({tool})")
    for number, entry in enumerate(entries):
        try:
            outcome = _har_exchange(path, number, entry, include)
        except WRONG_SHAPE as error:
            outcome = f"entry {number}: not a HAR entry: {_problem(error)}"
        _take(result, outcome)
    return result


def _har_exchange(path: Path, number: int, entry: Any, include: str) -> Exchange | str:
    """The exchange one HAR entry records, or why it is skipped."""
    request, response = entry["request"], entry["response"]
    method, url, status = str(request["method"]), str(request["url"]), int(response["status"])
    content = response.get("content") or {}
    where = f"entry {number}: {method} {url}"
    if not _included(url, include):
        return f"{where}: path does not match {include!r}"
    if status == 0:
        return f"{where}: the request failed ({response.get('_failureText') or 'no answer'})"
    if "text" not in content and content.get("size", 0):
        return f"{where}: the HAR holds no response body (the tool did not save it)"
    timings = entry.get("timings") or {}
    timed = isinstance(timings.get("wait"), int | float) and timings["wait"] >= 0
    head = sum(max(float(timings.get(phase) or 0), 0) for phase in ("send", "wait")) if timed else 0.0
    end = head + max(float(timings.get("receive") or 0), 0) if timed else 0.0
    response_headers = [(n, v) for n, v in _header_pairs(response.get("headers")) if not n.startswith(":")]
    try:
        body = unpack(str(content.get("text", "")), content.get("encoding"))
        return build_exchange(
            method=method, url=url,
            request_headers=[(n, v) for n, v in _header_pairs(request.get("headers")) if not n.startswith(":")],
            request_body=_har_request_body(request), status=status, reason=str(response.get("statusText", "")),
            response_headers=response_headers, body=body,
            events=_events(body, str(content.get("mimeType") or _content_type(response_headers)), head, end),
            head_ms=head, end_ms=end, started=_har_time(entry.get("startedDateTime")),
            pace="estimated" if timed else "none", http_version=str(request.get("httpVersion") or "HTTP/1.1"),
            comment=f"HAR entry {number} of {path.name}",
        )
    except binascii.Error as error:
        return f"{where}: a base64 body does not decode ({error})"
    except ValueError as error:
        return f"{where}: {_why(error)}"


def _har_time(value: Any) -> datetime:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return UNKNOWN_TIME


def imported_cassette(result: ImportResult, version: str = "unknown") -> Cassette:
    """The import as a cassette, ready for `save_cassette`."""
    return new_cassette(version, list(result.exchanges))
