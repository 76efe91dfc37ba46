"""The journal page at `GET /__admin/`: one self-contained HTML file (no build step, no CDN).

The page holds no data of its own; its script reads `/__admin/*` with the key typed into it. It is
served with a Content-Security-Policy that allows only its own inline script and style (by hash)
and fetches to this server, so even a rendering mistake cannot run or load anything a client sent.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from importlib.resources import files

_INLINE = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)


@cache
def journal_page() -> str:
    return files("mockserver.control").joinpath("page.html").read_text(encoding="utf-8")


def _hash(source: str) -> str:
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


@cache
def page_headers() -> dict[str, str]:
    """Headers that lock the page down to its own inline code and same-origin fetches."""
    allowed: dict[str, list[str]] = {"script": [], "style": []}
    for tag, source in _INLINE.findall(journal_page()):
        allowed[tag].append(_hash(source))
    policy = "; ".join([
        "default-src 'none'",
        "script-src " + (" ".join(allowed["script"]) or "'none'"),
        "style-src " + (" ".join(allowed["style"]) or "'none'"),
        "connect-src 'self'",
        "img-src data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ])
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }
