"""The settings of one `humanloop-mock check` run, and the parsing of `--rate-limit`."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_SEED = 0
DEFAULT_MAX_EXAMPLES = 20
DEFAULT_MAX_REQUESTS = 1000
DEFAULT_REMOTE_RATE = 5.0  # requests per second when the target is not on this machine
DEFAULT_MAX_FIRST_BYTE = 2.0
DEFAULT_TIMEOUT = 60.0
DEFAULT_EXPERIMENT_ID = "exp_demo"  # the mock's demo experiment

_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/\s*([smh]))?\s*$")
_PER = {"s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


class OptionError(ValueError):
    """A setting that cannot work; the command exits 2 with this message."""


def parse_rate_limit(text: str) -> float:
    """`10`, `10/s`, `100/m` or `1000/h` as requests per second."""
    match = _RATE.match(text)
    if match is None or float(match.group(1)) <= 0:
        raise OptionError(f"--rate-limit {text!r}: expected a positive number of requests, optionally "
                          "per s, m or h (e.g. 10, 10/s, 100/m)")
    return float(match.group(1)) / _PER[match.group(2)]


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class CheckOptions:
    url: str
    api_key: str
    experiment_ids: tuple[str, ...] = ()
    max_examples: int = DEFAULT_MAX_EXAMPLES
    seed: int = DEFAULT_SEED
    allow_writes: bool = False
    rate_limit: float | None = None  # requests per second; None: unlimited on loopback, 5/s elsewhere
    max_requests: int = DEFAULT_MAX_REQUESTS
    max_first_byte: float = DEFAULT_MAX_FIRST_BYTE
    timeout: float = DEFAULT_TIMEOUT
    junit: str | None = None
    report: str | None = None
    sdk: bool = True  # run the official client's calls when `humanloop` is installed

    def validated(self) -> CheckOptions:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise OptionError(f"URL {self.url!r}: expected http(s)://host[:port]/path, e.g. http://127.0.0.1:8000/v4")
        if not self.api_key:
            raise OptionError("--api-key must not be empty")
        if self.max_examples < 0 or self.max_requests < 1:
            raise OptionError("--max-examples must be >= 0 and --max-requests >= 1")
        if self.max_first_byte <= 0 or self.timeout <= 0:
            raise OptionError("--max-first-byte and --timeout must be positive")
        return self

    @property
    def base_url(self) -> str:
        return self.url.rstrip("/")

    @property
    def experiments(self) -> tuple[str, ...]:
        return self.experiment_ids or (DEFAULT_EXPERIMENT_ID,)

    @property
    def effective_rate(self) -> float | None:
        if self.rate_limit is not None:
            return self.rate_limit
        return None if is_loopback(self.url) else DEFAULT_REMOTE_RATE
