"""The settings of one `humanloop-mock check` run, and the parsing of `--rate-limit` and `--input`."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from contracts.check.checks import SEVERITIES
from contracts.check.transport import DEFAULT_MAX_ANSWER_BYTES, DEFAULT_MAX_STREAM_EVENTS

FAIL_ON = SEVERITIES  # --fail-on takes a severity: violations of it or worse fail the run

DEFAULT_SEED = 0
DEFAULT_MAX_EXAMPLES = 20
DEFAULT_MAX_REQUESTS = 1000
DEFAULT_REMOTE_RATE = 5.0  # requests per second when the target is not on this machine
DEFAULT_MAX_FIRST_BYTE = 2.0
DEFAULT_TIMEOUT = 10.0  # seconds for one whole answer
DEFAULT_STREAM_TIMEOUT = 30.0  # seconds for one whole streamed answer
DEFAULT_DEADLINE = 300.0  # seconds for the whole run
DEFAULT_PROGRESS_EVERY = 5.0  # seconds between progress lines on stderr
DEFAULT_FAIL_ON = "contract"
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


def parse_input(text: str) -> tuple[str, str]:
    """`NAME=VALUE` (the value may hold `=`): one template input for the chat requests."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise OptionError(f"--input {text!r}: expected NAME=VALUE, e.g. --input topic=weather")
    return name.strip(), value


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
    stream_timeout: float = DEFAULT_STREAM_TIMEOUT
    deadline: float | None = DEFAULT_DEADLINE  # None: no deadline
    max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES
    max_stream_events: int = DEFAULT_MAX_STREAM_EVENTS
    fail_on: str = DEFAULT_FAIL_ON  # "breaks-clients" or "contract": which violations fail the run
    inputs: tuple[tuple[str, str], ...] = ()  # template inputs sent with every chat request
    junit: str | None = None
    report: str | None = None
    sdk: bool = True  # run the official client's calls when `humanloop` is installed
    progress_every: float = DEFAULT_PROGRESS_EVERY

    def validated(self) -> CheckOptions:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise OptionError(f"URL {self.url!r}: expected http(s)://host[:port]/path, e.g. http://127.0.0.1:8000/v4")
        try:
            parts.port  # noqa: B018 - raises for a port that is not a number in 0-65535
        except ValueError:
            raise OptionError(f"URL {self.url!r}: the port is not a number from 1 to 65535") from None
        if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
            # a path is appended to the URL (a query or fragment would swallow it), and a password in it
            # would be printed in every curl: the key goes in --api-key, nothing else is sent
            raise OptionError("URL: expected no user:password@, ?query or #fragment, only http(s)://host[:port]/path "
                              "(the URL is not repeated here: it may hold a password)")
        if not self.api_key:
            raise OptionError("--api-key must not be empty")
        if self.max_examples < 0 or self.max_requests < 1:
            raise OptionError("--max-examples must be >= 0 and --max-requests >= 1")
        if min(self.max_first_byte, self.timeout, self.stream_timeout, self.progress_every) <= 0:
            raise OptionError("--max-first-byte, --timeout, --stream-timeout and --progress-every must be positive")
        if self.deadline is not None and self.deadline <= 0:
            raise OptionError("--deadline must be positive")
        if self.max_answer_bytes < 1 or self.max_stream_events < 1:
            raise OptionError("--max-answer-bytes and --max-stream-events must be >= 1")
        if self.fail_on not in FAIL_ON:
            raise OptionError(f"--fail-on {self.fail_on!r}: expected one of {', '.join(FAIL_ON)}")
        return self

    @property
    def base_url(self) -> str:
        return self.url.rstrip("/")

    @property
    def input_values(self) -> dict[str, str]:
        return dict(self.inputs)

    @property
    def experiments(self) -> tuple[str, ...]:
        return self.experiment_ids or (DEFAULT_EXPERIMENT_ID,)

    @property
    def effective_rate(self) -> float | None:
        if self.rate_limit is not None:
            return self.rate_limit
        return None if is_loopback(self.url) else DEFAULT_REMOTE_RATE
