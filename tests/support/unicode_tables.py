"""Writes mockserver/fixed_unicode.py's tables again from the running interpreter: run under CPython 3.11.

`python -m tests.support.unicode_tables` (refuses any Python whose Unicode version is not the tables').
"""

from __future__ import annotations

import re
import textwrap
import unicodedata
from collections.abc import Callable
from pathlib import Path

from mockserver import fixed_unicode


def ranges_of(test: Callable[[str], bool]) -> str:
    """The code points passing `test`, as the tables write them (hex `start-end`, or one code point)."""
    pairs, start = [], None
    for code in range(0x110001):
        inside = code < 0x110000 and test(chr(code))
        if inside and start is None:
            start = code
        elif not inside and start is not None:
            pairs.append(f"{start:x}" if start == code - 1 else f"{start:x}-{code - 1:x}")
            start = None
    return " ".join(pairs)


def current_ranges() -> dict[str, str]:
    """The three classes as this interpreter has them (the tables themselves, under CPython 3.11)."""
    return {"WORD": ranges_of(lambda c: c.isalnum() or c == "_"), "SPACE": ranges_of(str.isspace),
            "PRINTABLE": ranges_of(str.isprintable)}


def write() -> None:
    if unicodedata.unidata_version != fixed_unicode.UNICODE_VERSION:
        raise SystemExit(f"run this under a Python with Unicode {fixed_unicode.UNICODE_VERSION} (CPython 3.11), "
                         f"not {unicodedata.unidata_version}")
    path = Path(fixed_unicode.__file__)
    source = path.read_text(encoding="utf-8")
    for name, ranges in current_ranges().items():
        lines = textwrap.wrap(ranges, 110)
        literal = "(\n    " + "\n    ".join(f'"{line} "' for line in lines) + "\n)" if len(lines) > 1 else f'"{ranges}"'
        assignment = f"_{name}_RANGES = {literal}"
        source = re.sub(rf'^_{name}_RANGES = (\(\n.*?\n\)|".*?")$', lambda _, new=assignment: new, source,
                        count=1, flags=re.M | re.S)
    path.write_text(source, encoding="utf-8")


if __name__ == "__main__":
    write()
