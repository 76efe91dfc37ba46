"""Reading a file a person named (a config file, a cassette, a recording to import): bounded, and with
errors that say what is wrong with the file instead of a traceback, a hang or all the memory there is.

What can go wrong with a named path that `Path.read_text` does not survive: a FIFO (opening it waits
for a writer that never comes), `/dev/zero` or `/dev/urandom` (reading never ends, until memory does),
a file of gigabytes, a symlink loop, no permission, bytes that are not UTF-8, a UTF-16 file (as Windows
editors write), a UTF-8 byte-order mark. So only a regular file is read, only up to a limit, and the
text must be UTF-8 (a leading byte-order mark is dropped: it is no part of the text).
"""

from __future__ import annotations

import codecs
import os
import stat
from pathlib import Path

MEBIBYTE = 1 << 20
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)  # (UTF-32's begin the same way)


class UnreadableFile(ValueError):
    """The file cannot be read as text; the message starts with the path and says why."""


def read_bytes(path: str | Path, limit: int | None) -> bytes:
    """The bytes of the regular file at `path`, at most `limit` of them (None: no limit)."""
    path = Path(path)
    try:  # O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise UnreadableFile(f"{path}: no such file") from None
    except OSError as error:
        raise UnreadableFile(f"{path}: cannot read: {error.strerror}") from None
    try:
        _check_regular(path, os.fstat(descriptor), limit)
        with os.fdopen(descriptor, "rb", closefd=False) as handle:
            data = handle.read() if limit is None else handle.read(limit + 1)
    except OSError as error:
        raise UnreadableFile(f"{path}: cannot read: {error.strerror}") from None
    finally:
        os.close(descriptor)
    if limit is not None and len(data) > limit:
        raise UnreadableFile(f"{path}: larger than {_size(limit)}, the most this reads")
    return data


def _check_regular(path: Path, info: os.stat_result, limit: int | None) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise UnreadableFile(f"{path}: is a directory, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise UnreadableFile(f"{path}: not a regular file (a pipe, device or socket); give a file")
    if limit is not None and info.st_size > limit:
        raise UnreadableFile(f"{path}: larger than {_size(limit)}, the most this reads")


def read_text(path: str | Path, limit: int | None) -> str:
    """The UTF-8 text of the regular file at `path` (see `read_bytes`), without a leading byte-order mark."""
    return decode_text(path, read_bytes(path, limit))


def decode_text(path: str | Path, data: bytes) -> str:
    if data.startswith(_UTF16_BOMS):
        raise UnreadableFile(f"{path}: UTF-16 or UTF-32 text (it starts with that byte-order mark); save it as UTF-8")
    data = data.removeprefix(codecs.BOM_UTF8)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise UnreadableFile(f"{path}: not UTF-8 text (line {line}, byte {error.start}); save it as UTF-8") from None
    if "\x00" in text:  # JSON, YAML and TOML all refuse a raw NUL; UTF-16 without a byte-order mark is full of them
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise UnreadableFile(f"{path}: holds a NUL byte (line {line}): not a text file, or UTF-16 without a "
                             "byte-order mark; save it as UTF-8")
    return text


def _size(limit: int) -> str:
    return f"{limit // MEBIBYTE} MiB" if limit >= MEBIBYTE and limit % MEBIBYTE == 0 else f"{limit:,} bytes"
