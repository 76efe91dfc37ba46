"""Which route answers a request: one table of paths for the API and `/__admin`, matched as Starlette's
router would (the same path syntax, a `405` naming the allowed methods, a `307` to the path with or without
its trailing slash, a `404` for the rest).

A path without parameters is one dictionary lookup; paths with parameters are tried in order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from re import Pattern
from typing import Any
from urllib.parse import unquote

from starlette.routing import compile_path

from mockserver.http.request import Request
from mockserver.pipeline.delivery import Delivery

Handler = Callable[[Request], Awaitable[Delivery]]


class Key(Enum):
    """When a route asks for an `X-API-KEY`."""

    REQUIRED = "required"  # always (the API): 401 without one, or with one `--api-key` does not list
    CONFIGURED = "configured"  # only a server started with `--api-key` asks (`/__admin`)
    NONE = "none"  # never (health, documents, the journal page)


@dataclass(frozen=True)
class Route:
    """One path and its handlers by method. `takes_turns`: handlers that take turns for a large body's work
    themselves (every other handler with a body over `HEAVY_BODY_BYTES` runs in one turn); `reads_body`:
    methods whose handler reads a body (off the journaled paths, only those are read)."""

    path: str
    handlers: Mapping[str, Handler]
    key: Key = Key.REQUIRED
    takes_turns: frozenset[str] = frozenset()
    reads_body: frozenset[str] = frozenset()
    regex: Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "regex", compile_path(self.path)[0])

    @property
    def allowed(self) -> str:
        """The `Allow` header: its methods, and HEAD wherever GET is (HEAD is answered as GET)."""
        methods = set(self.handlers) | ({"HEAD"} if "GET" in self.handlers else set())
        return ", ".join(sorted(methods))


@dataclass(slots=True)
class Found:
    """A route and the handler for the request's method, with the path's parameters."""

    route: Route
    handler: Handler
    method: str
    path_params: dict[str, str]


@dataclass(slots=True)
class Missed:
    """No handler: 404 (`allowed` None, `redirect` None), 405 (`allowed`), or 307 to `redirect`."""

    allowed: str | None = None
    redirect: str | None = None


class Router:
    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = list(routes)
        paths = [route.path for route in self.routes]
        if len(paths) != len(set(paths)):
            raise ValueError(f"a path is routed twice: {sorted(p for p in paths if paths.count(p) > 1)}")
        self._fixed = {route.path: route for route in self.routes if "{" not in route.path}
        self._templated = [route for route in self.routes if "{" in route.path]

    def find(self, method: str, path: str, raw_path: bytes | None = None) -> Found | Missed:
        """`raw_path`, the path as sent: where it holds an escaped slash (`%2F`), a path parameter may hold
        a slash (`/experiments/a%2Fb` is experiment `a/b`, as the remote fixture sends it), which the
        decoded `path` has lost."""
        verb = "GET" if method == "HEAD" else method
        route, params = self._fixed.get(path), {}  # (the API's own paths are fixed: one lookup)
        if route is None and raw_path is not None and b"%2f" in raw_path.lower():
            route, params = self._match_escaped(raw_path)
        if route is None:
            route, params = self._match(path)
        if route is not None:
            handler = route.handlers.get(verb)
            if handler is None:
                return Missed(allowed=route.allowed)
            return Found(route, handler, verb, params)
        if path != "/":  # the same path with or without its trailing slash
            other = path.rstrip("/") if path.endswith("/") else path + "/"
            if self._match(other)[0] is not None:
                return Missed(redirect=other)
        return Missed()

    def _match_escaped(self, raw_path: bytes) -> tuple[Route | None, dict[str, Any]]:
        """A parameterised route matched segment by segment on the path as sent; each parameter unescaped."""
        sent = raw_path.decode("latin-1")  # (what arrives escaped is ASCII; latin-1 keeps any other byte)
        for route in self._templated:
            matched = route.regex.match(sent)
            if matched:
                return route, {name: unquote(value) for name, value in matched.groupdict().items()}
        return None, {}

    def _match(self, path: str) -> tuple[Route | None, dict[str, Any]]:
        route = self._fixed.get(path)
        if route is not None:
            return route, {}
        for route in self._templated:
            matched = route.regex.match(path)
            if matched:
                return route, matched.groupdict()
        return None, {}
