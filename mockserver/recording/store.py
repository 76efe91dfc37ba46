"""Cassettes on disk: load one (with clear errors), save one, and record into one without losing any.

Recording (`CassetteWriter`) appends each exchange as one JSON line to a side file,
`<cassette>.partial.jsonl`, flushed before `append` returns; `close()` writes the whole cassette to a
temporary file, syncs it, renames it over the cassette (atomic: a reader sees the old file or the
new one, never half of one) and removes the side file. So a clean shutdown loses nothing, the
cassette is a plain HAR file between recordings, and after a crash (even kill -9; not a power cut,
which would need an fsync per exchange) the exchanges are still in the side file: `load_cassette`
reads them with the cassette, ignoring a last line cut short, and the next writer on that path folds
them in first. Nothing accumulates in memory while recording; `close()` reads the cassette back once.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from mockserver.files.textfile import MEBIBYTE, UnreadableFile, read_bytes, read_text
from mockserver.recording.har import MARKER, Cassette, Exchange, exchange_json, new_cassette
from mockserver.recording.redact import redact_exchange

SIDE_SUFFIX = ".partial.jsonl"
# The largest cassette loaded (its exchanges are held in memory, at several times their size on disk).
# A recording may grow past it: the recorder itself reads back what it wrote without this limit.
MAX_CASSETTE_BYTES = 256 * MEBIBYTE


class CassetteError(Exception):
    """A cassette that cannot be read or written; the message names the file and what is wrong."""


def side_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + SIDE_SUFFIX)


def _where(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top)"


def describe_error(error: ValidationError, limit: int = 5) -> str:
    problems = [f"{_where(item['loc'])}: {item['msg']}" for item in error.errors(include_url=False)]
    more = f" (and {len(problems) - limit} more)" if len(problems) > limit else ""
    return "; ".join(problems[:limit]) + more


def read_cassette_text(path: Path, limit: int | None = MAX_CASSETTE_BYTES) -> str:
    """The text of a cassette (or a recording to import): a regular UTF-8 file of at most `limit` bytes."""
    try:
        return read_text(path, limit)
    except UnreadableFile as unreadable:
        raise CassetteError(str(unreadable)) from None


def _read_json(path: Path, limit: int | None) -> Any:
    text = read_cassette_text(path, limit)
    try:
        return json.loads(text)
    except ValueError as error:
        raise CassetteError(f"{path}: not JSON: {error}") from None
    except RecursionError:
        raise CassetteError(f"{path}: not a HAR file: JSON nested too deeply to read") from None


def parse_cassette(path: Path, data: Any) -> Cassette:
    if not isinstance(data, dict) or not isinstance(data.get("log"), dict):
        raise CassetteError(f"{path}: not a HAR file (a JSON object with a `log` object)")
    if MARKER not in data["log"]:
        raise CassetteError(f"{path}: a HAR file, but not a humanloop-mock cassette (no log.{MARKER}); "
                            f"convert it first: humanloop-mock cassette import {path} -o OUT")
    try:
        return Cassette.model_validate(data)
    except ValidationError as error:
        raise CassetteError(f"{path}: not a valid cassette: {describe_error(error)}") from None


def _read_side(side: Path, limit: int | None) -> list[Exchange]:
    """The exchanges of an unfinished recording. Each is written as one line ending in a newline, so
    only a last line without one can be cut short by a crash: that one is dropped if it does not parse."""
    try:
        complete, _, tail = read_bytes(side, limit).rpartition(b"\n")
    except UnreadableFile as unreadable:
        raise CassetteError(str(unreadable)) from None
    exchanges = []
    for number, line in enumerate(complete.split(b"\n") if complete else [], start=1):
        try:
            exchanges.append(Exchange.model_validate_json(line))
        except ValidationError as error:
            raise CassetteError(f"{side}: line {number}: not a valid exchange: {describe_error(error)}") from None
    with contextlib.suppress(ValidationError):
        if tail.strip():
            exchanges.append(Exchange.model_validate_json(tail))
    return exchanges


def _exists(path: Path) -> bool:
    """Whether there is something at `path`; CassetteError for a path that cannot be looked at (a symlink
    loop, a name over the system's limit, a folder it may not search), which `Path.exists` calls absent."""
    try:
        os.stat(path)
    except FileNotFoundError:
        return False
    except OSError as error:
        raise CassetteError(f"{path}: cannot read: {error.strerror}") from None
    return True


def load_cassette(path: str | Path, limit: int | None = MAX_CASSETTE_BYTES) -> Cassette:
    """The cassette at `path`, with any exchanges an unfinished recording left beside it
    (`cassette.recovered` counts them), each file at most `limit` bytes. Raises CassetteError saying
    what is wrong and where."""
    path = Path(path)
    side = side_path(path)
    here, side_here = _exists(path), _exists(side)
    if not here and not side_here:
        raise CassetteError(f"{path}: no such cassette")
    cassette = parse_cassette(path, _read_json(path, limit)) if here else new_cassette()
    if side_here:
        recovered = _read_side(side, limit)
        entries = cassette.log.entries
        # A close interrupted between its rename and removing the side file: already in the cassette.
        if recovered and [exchange_json(e) for e in entries[-len(recovered):]] == [exchange_json(e) for e in recovered]:
            recovered = []
        entries.extend(recovered)
        cassette._recovered = len(recovered)
    return cassette


def _write_atomically(path: Path, cassette: Cassette, entries: Iterable[dict[str, Any]]) -> None:
    """Writes the cassette's log with `entries` (streamed, one indented entry at a time) to a temporary
    file beside `path`, syncs it and renames it over `path`."""
    shell = cassette.model_dump(mode="json", by_alias=True, exclude_none=True)
    shell["log"]["entries"] = []
    before, after = orjson.dumps(shell, option=orjson.OPT_INDENT_2).rsplit(b"[]", 1)  # entries is the last key
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("wb") as handle:
            handle.write(before + b"[")
            for number, entry in enumerate(entries):
                handle.write((b"," if number else b"") + b"\n" + orjson.dumps(entry, option=orjson.OPT_INDENT_2))
            handle.write(b"\n]" + after + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as error:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        raise CassetteError(f"{path}: cannot write: {error.strerror}") from None
    with contextlib.suppress(OSError):  # make the rename itself durable where the platform allows
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def save_cassette(cassette: Cassette, path: str | Path) -> None:
    """Writes `cassette` to `path` atomically (every exchange redacted once more on the way)."""
    _write_atomically(Path(path), cassette,
                      (exchange_json(redact_exchange(exchange)) for exchange in cassette.exchanges))


class CassetteWriter:
    """Records exchanges into the cassette at `path`, after those it already holds (see the module
    docstring for why none is lost). One writer per path at a time; use as a context manager or
    call `close()`. Thread-safe."""

    def __init__(self, path: str | Path, version: str = "unknown") -> None:
        self.path = Path(path)
        self._side = side_path(self.path)
        self._version = version
        self._lock = threading.Lock()
        self._closed = False
        try:
            self._handle = self._side.open("ab")
        except OSError as error:
            raise CassetteError(f"{self._side}: cannot record here: {error.strerror}") from None
        try:
            fcntl.flock(self._handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._handle.close()
            raise CassetteError(f"{self.path}: another process is recording to this cassette") from None
        try:
            current = self._current()  # fails now, not at close, if the file there is not a cassette
            if self._side.stat().st_size:
                self._write(current)  # fold in what a crashed recording left, so the side file starts empty
            self.count = len(current.exchanges)
        except Exception:
            self._handle.close()
            if not self._side.stat().st_size:
                self._side.unlink()  # ours, and empty: leave nothing behind
            raise

    def append(self, exchange: Exchange) -> int:
        """Redacts `exchange`, writes it to disk and returns its number in the cassette (from 0)."""
        line = orjson.dumps(exchange_json(redact_exchange(exchange)))
        with self._lock:
            if self._closed:
                raise CassetteError(f"{self.path}: the recording is closed")
            self._handle.write(line + b"\n")
            self._handle.flush()
            self.count += 1
            return self.count - 1

    def close(self) -> None:
        """Writes the whole cassette (atomically) and removes the side file. Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._write(self._current())
                self._side.unlink(missing_ok=True)
            finally:
                self._handle.close()

    def _current(self) -> Cassette:
        cassette = load_cassette(self.path, limit=None)  # (what this writer wrote may exceed what a load takes)
        if not self.path.exists():
            cassette.log.creator.version = self._version
        return cassette

    def _write(self, cassette: Cassette) -> None:
        _write_atomically(self.path, cassette, (exchange_json(e) for e in cassette.exchanges))
        self._handle.truncate(0)  # a crash before this line leaves duplicates that load_cassette drops

    def __enter__(self) -> CassetteWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
