"""The journal page at `GET /__admin/`: one self-contained HTML file (no build step, no CDN)."""

from __future__ import annotations

from functools import cache
from importlib.resources import files


@cache
def journal_page() -> str:
    return files("mockserver.admin").joinpath("page.html").read_text(encoding="utf-8")
