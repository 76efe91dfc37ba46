"""`humanloop-mock check URL`: the click command (registered by `mockserver.cli`)."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Any

import click

from contracts.check.checks import SEVERITIES
from contracts.check.options import (
    DEFAULT_DEADLINE,
    DEFAULT_FAIL_ON,
    DEFAULT_MAX_EXAMPLES,
    DEFAULT_MAX_FIRST_BYTE,
    DEFAULT_MAX_REQUESTS,
    DEFAULT_PROGRESS_EVERY,
    DEFAULT_SEED,
    DEFAULT_STREAM_TIMEOUT,
    DEFAULT_TIMEOUT,
    CheckOptions,
    OptionError,
    parse_input,
    parse_rate_limit,
)
from contracts.check.transport import DEFAULT_MAX_ANSWER_BYTES, DEFAULT_MAX_STREAM_EVENTS


class FiniteFloatRange(click.FloatRange):
    """click's FloatRange, refusing `nan` and `inf` (which pass its bounds: a comparison with NaN is
    false, and infinity is above any minimum), so a timeout or speed is always a number."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


def _rate(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_rate_limit(value)
    except OptionError as bad:
        raise click.BadParameter(str(bad)) from None


def _inputs(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    try:
        return tuple(parse_input(value) for value in values)
    except OptionError as bad:
        raise click.BadParameter(str(bad)) from None


@click.command("check")
@click.argument("url", required=False)
@click.option("--api-key", required=True, envvar="HUMANLOOP_API_KEY", show_envvar=True,
              help="The X-API-KEY to send (never printed or stored).")
@click.option("--experiment-id", "experiment_ids", multiple=True,
              help="An experiment to chat with (repeatable); default exp_demo, the mock's demo.")
@click.option("--input", "inputs", multiple=True, callback=_inputs, metavar="NAME=VALUE",
              help="A template input sent with every chat request (repeatable), for experiments whose "
                   "templates need inputs.")
@click.option("--max-examples", default=DEFAULT_MAX_EXAMPLES, show_default=True, type=click.IntRange(0),
              help="Generated cases per operation and mode (valid, invalid).")
@click.option("--seed", default=DEFAULT_SEED, show_default=True, type=int, help="Same seed, same cases.")
@click.option("--junit", type=click.Path(dir_okay=False, writable=True), help="Write a JUnit XML report here.")
@click.option("--report", type=click.Path(dir_okay=False, writable=True), help="Write a JSON report here.")
@click.option("--replay", type=click.Path(dir_okay=False, exists=True),
              help="Re-send only the requests behind the violations of this JSON report and say which still fail "
                   "(URL defaults to the report's target).")
@click.option("--fail-on", default=DEFAULT_FAIL_ON, show_default=True, type=click.Choice(SEVERITIES),
              help="Exit 1 on violations of this severity or worse: breaks-clients (an official client breaks) "
                   "or contract (any deviation from the contract).")
@click.option("--allow-writes", is_flag=True,
              help="Also create, change and delete model configs and experiments (in a project of its own).")
@click.option("--rate-limit", callback=_rate, metavar="R",
              help="Requests per second, or N/s, N/m, N/h [default: unlimited on loopback, 5/s elsewhere].")
@click.option("--max-requests", default=DEFAULT_MAX_REQUESTS, show_default=True, type=click.IntRange(1),
              help="Stop sending after this many requests.")
@click.option("--max-first-byte", default=DEFAULT_MAX_FIRST_BYTE, show_default=True, type=FiniteFloatRange(0.01),
              help="Seconds within which a stream's first event (and any non-chat answer) must start.")
@click.option("--timeout", default=DEFAULT_TIMEOUT, show_default=True, type=FiniteFloatRange(0.1),
              help="Seconds for one whole answer (not per read).")
@click.option("--stream-timeout", default=DEFAULT_STREAM_TIMEOUT, show_default=True, type=FiniteFloatRange(0.1),
              help="Seconds for one whole answer once it says text/event-stream.")
@click.option("--deadline", default=DEFAULT_DEADLINE, show_default=True, type=FiniteFloatRange(0),
              help="Seconds for the whole run; then nothing more is sent and the verdict is given (0: none).")
@click.option("--max-answer-bytes", default=DEFAULT_MAX_ANSWER_BYTES, show_default=True, type=click.IntRange(1),
              help="Body bytes read per answer (after decompression); past it the answer is cut and reported.")
@click.option("--max-stream-events", default=DEFAULT_MAX_STREAM_EVENTS, show_default=True, type=click.IntRange(1),
              help="Events read per stream; past it the stream is cut and reported.")
@click.option("--progress-every", default=DEFAULT_PROGRESS_EVERY, show_default=True, type=FiniteFloatRange(0.1),
              help="Seconds between progress lines on stderr.")
@click.option("--no-sdk", is_flag=True, help="Skip the official client's calls even if `humanloop` is installed.")
def check(url: str | None, api_key: str, experiment_ids: tuple[str, ...], inputs: tuple[tuple[str, str], ...],
          max_examples: int, seed: int, junit: str | None, report: str | None, replay: str | None, fail_on: str,
          allow_writes: bool, rate_limit: float | None, max_requests: int, max_first_byte: float, timeout: float,
          stream_timeout: float, deadline: float, max_answer_bytes: int, max_stream_events: int,
          progress_every: float, no_sdk: bool) -> None:
    """Check that the server at URL (e.g. http://127.0.0.1:8000/v4) honours the chat-experiment contract.

    Explicit scenarios first, then generated requests; every violation is printed with the check
    that found it, its severity, the field, and a curl that reproduces it; progress goes to stderr.
    Exit 0: conforms (at --fail-on); 1: violations found; 2: could not run (unreachable, bad
    arguments, key refused, every request answered 404).
    """
    # Hypothesis keeps caches in ./.hypothesis unless told otherwise; keep the user's directory clean.
    cache_home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(cache_home / "humanloop-mock" / "hypothesis"))
    options = CheckOptions(
        url=url or "", api_key=api_key, experiment_ids=experiment_ids, inputs=inputs, max_examples=max_examples,
        seed=seed, allow_writes=allow_writes, rate_limit=rate_limit, max_requests=max_requests,
        max_first_byte=max_first_byte, timeout=timeout, stream_timeout=stream_timeout, deadline=deadline or None,
        max_answer_bytes=max_answer_bytes, max_stream_events=max_stream_events, fail_on=fail_on, junit=junit,
        report=report, sdk=not no_sdk, progress_every=progress_every,
    )
    if replay is not None:
        from contracts.check.replay import replay_report

        sys.exit(replay_report(replay, options))
    if not url:
        raise click.UsageError("Missing argument 'URL' (the API's base URL, e.g. http://127.0.0.1:8000/v4).")
    from contracts.check.runner import run_check

    sys.exit(run_check(options).exit_code)
