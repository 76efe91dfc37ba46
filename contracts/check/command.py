"""`humanloop-mock check URL`: the click command (registered by `mockserver.cli`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from contracts.check.options import (
    DEFAULT_MAX_EXAMPLES,
    DEFAULT_MAX_FIRST_BYTE,
    DEFAULT_MAX_REQUESTS,
    DEFAULT_SEED,
    DEFAULT_TIMEOUT,
    CheckOptions,
    OptionError,
    parse_rate_limit,
)


def _rate(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_rate_limit(value)
    except OptionError as bad:
        raise click.BadParameter(str(bad)) from None


@click.command("check")
@click.argument("url")
@click.option("--api-key", required=True, envvar="HUMANLOOP_API_KEY", show_envvar=True,
              help="The X-API-KEY to send (never printed or stored).")
@click.option("--experiment-id", "experiment_ids", multiple=True,
              help="An experiment to chat with (repeatable); default exp_demo, the mock's demo.")
@click.option("--max-examples", default=DEFAULT_MAX_EXAMPLES, show_default=True, type=click.IntRange(0),
              help="Generated cases per operation and mode (valid, invalid).")
@click.option("--seed", default=DEFAULT_SEED, show_default=True, type=int, help="Same seed, same cases.")
@click.option("--junit", type=click.Path(dir_okay=False, writable=True), help="Write a JUnit XML report here.")
@click.option("--report", type=click.Path(dir_okay=False, writable=True), help="Write a JSON report here.")
@click.option("--allow-writes", is_flag=True,
              help="Also create, change and delete model configs and experiments (in a project of its own).")
@click.option("--rate-limit", callback=_rate, metavar="R",
              help="Requests per second, or N/s, N/m, N/h [default: unlimited on loopback, 5/s elsewhere].")
@click.option("--max-requests", default=DEFAULT_MAX_REQUESTS, show_default=True, type=click.IntRange(1),
              help="Stop sending after this many requests.")
@click.option("--max-first-byte", default=DEFAULT_MAX_FIRST_BYTE, show_default=True, type=click.FloatRange(0.01),
              help="Seconds within which a stream's first event (and any non-chat answer) must start.")
@click.option("--timeout", default=DEFAULT_TIMEOUT, show_default=True, type=click.FloatRange(0.1),
              help="Seconds to wait for one whole answer.")
@click.option("--no-sdk", is_flag=True, help="Skip the official client's calls even if `humanloop` is installed.")
def check(url: str, api_key: str, experiment_ids: tuple[str, ...], max_examples: int, seed: int, junit: str | None,
          report: str | None, allow_writes: bool, rate_limit: float | None, max_requests: int, max_first_byte: float,
          timeout: float, no_sdk: bool) -> None:
    """Check that the server at URL (e.g. http://127.0.0.1:8000/v4) honours the chat-experiment contract.

    Explicit scenarios first, then generated requests; every violation is printed with the check
    that found it, the field, and a curl that reproduces it. Exit 0: conforms; 1: violations
    found; 2: could not run (unreachable, bad arguments, key refused).
    """
    # Hypothesis keeps caches in ./.hypothesis unless told otherwise; keep the user's directory clean.
    cache_home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(cache_home / "humanloop-mock" / "hypothesis"))
    from contracts.check.runner import run_check

    outcome = run_check(CheckOptions(
        url=url, api_key=api_key, experiment_ids=experiment_ids, max_examples=max_examples, seed=seed,
        allow_writes=allow_writes, rate_limit=rate_limit, max_requests=max_requests, max_first_byte=max_first_byte,
        timeout=timeout, junit=junit, report=report, sdk=not no_sdk,
    ))
    sys.exit(outcome.exit_code)
