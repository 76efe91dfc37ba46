"""The SDK profile: the official Python client's own calls against the target, when it is installed.

`humanloop==0.7.32` is the last Python release with chat-experiment. Whatever the schema says, a
deployment is only useful if this client can use it: sync, async, and streamed. Each call is
bounded like the checker's own requests (the client itself would wait for ever): a sync call runs
in a thread that is given up on, an async one is cancelled.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from importlib import metadata
from typing import Any, TypeVar

from contracts.check.checks import SDK_ASYNC, SDK_STREAM, SDK_SYNC
from contracts.check.exchange import Intent, Request
from contracts.check.operations import CHAT
from contracts.check.scenarios import HELLO, chat_body, encode
from contracts.check.session import Session
from contracts.check.transport import BudgetExhausted, DeadlineReached

SAMPLES = 2
T = TypeVar("T")


def installed_version() -> str | None:
    try:
        import humanloop  # noqa: F401
    except ImportError:
        return None
    try:
        return metadata.version("humanloop")
    except metadata.PackageNotFoundError:
        return "unknown"


def _failure(error: BaseException) -> str:
    status, body = getattr(error, "status", None), getattr(error, "body", None)
    if status is not None:
        text = f"{type(error).__name__}: HTTP {status}" + (f": {body}" if body is not None else "")
    else:
        text = f"{type(error).__name__}: {error}"
    return " ".join(str(text).split())[:240]


async def closing_sessions(call: Callable[[], Awaitable[T]], follow_redirects: bool = False) -> T:
    """Await an async client call, then close the aiohttp responses and sessions it opened: the client
    opens a session per request and leaves it, and the response, open when the request fails or is
    given up on. Redirects stop the call unless `follow_redirects` (the client's own default)."""
    import aiohttp

    opened: list[Any] = []
    responses: list[Any] = []
    original = aiohttp.ClientSession

    def tracked(*args: Any, **kwargs: Any) -> Any:
        session = original(*args, **kwargs)
        opened.append(session)
        request = session._request

        async def recording(*a: Any, **k: Any) -> Any:
            response = await request(*a, **(k if follow_redirects else {**k, "allow_redirects": False}))
            responses.append(response)
            return response

        session._request = recording
        return session

    aiohttp.ClientSession = tracked  # type: ignore[misc,assignment]
    try:
        return await call()
    finally:
        aiohttp.ClientSession = original  # type: ignore[misc]
        for response in responses:
            response.close()
        for session in opened:
            if not session.closed:
                await session.close()


def _without_redirects(client: Any) -> bool:
    """Make the sync client's calls stop at a redirect instead of following it (with the key) to
    wherever it points, as the checker's own requests do. False if this client is built otherwise."""
    try:
        pool = client.chats.api_client.rest_client.pool_manager
        urlopen = pool.urlopen
    except AttributeError:
        return False

    def no_redirects(method: str, url: str, redirect: bool = True, **kw: Any) -> Any:
        return urlopen(method, url, redirect=False, **kw)

    pool.urlopen = no_redirects
    return True


def _check_samples(reply: Any, what: str) -> list[tuple[str, str]]:
    """What the caller got: samples with a string `output` and `id`. (How many, and their indexes, are
    the answer's content, judged by `sample_indexes` on the checker's own requests.)"""
    samples = list(getattr(reply, "data", None) or [])
    if not samples:
        return [("data", f"{what} returned no samples")]
    for item in samples:
        if not isinstance(getattr(item, "output", None), str) or not isinstance(getattr(item, "id", None), str):
            return [("data[].output", f"{what} returned a sample without a string output and id")]
    return []


async def _collect_stream(client: Any, experiment_id: str, inputs: dict[str, str]) -> list[Any]:
    response = await client.chat_experiment_stream(experiment_id=experiment_id, messages=HELLO, num_samples=SAMPLES,
                                                   provider_api_keys={}, inputs=inputs or None)
    return [chunk async for chunk in response.content]


def _check_chunks(chunks: list[Any]) -> list[tuple[str, str]]:
    if not chunks:
        return [("(stream)", "the client yielded no events (it needs `data: <json>` and a blank line per event)")]
    for chunk in chunks:
        if not isinstance(chunk, dict) or not isinstance(chunk.get("output"), str) or not isinstance(
                chunk.get("id"), str):
            return [("data[0].output", "an event the client yielded lacks `output` or `id`")]
    return []


class _TooSlow(Exception):
    pass


def _within(seconds: float, call: Callable[[], T]) -> T:
    """Run a blocking call in a daemon thread; give up on it after `seconds`."""
    result: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.append(call())
        except BaseException as failed:
            failure.append(failed)

    worker = threading.Thread(target=run, name="sdk-call", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise _TooSlow
    if failure:
        raise failure[0]
    return result[0]


async def _bounded(seconds: float, call: Callable[[], Awaitable[T]]) -> T:
    try:
        return await asyncio.wait_for(closing_sessions(call), seconds)
    except TimeoutError:
        raise _TooSlow from None


def check_sdk(session: Session, experiment_id: str, only: frozenset[str] | None = None) -> None:
    """The client's three calls (or `only` those named) against the target, each judged as its check."""
    version = installed_version()
    if version is None:
        session.note("SDK profile skipped: the official client is not installed (pip install 'humanloop==0.7.32')")
        return
    from humanloop import Humanloop
    from humanloop.exceptions import InvalidHostConfigurationError

    try:
        client = Humanloop(api_key=session.options.api_key, host=session.options.base_url)
    except InvalidHostConfigurationError as refused:
        session.note(f"SDK profile skipped: the client refuses this host ({refused}); use an IPv4 address "
                     "or a dotted domain name")
        return
    if not _without_redirects(client):
        session.note(f"SDK profile skipped: humanloop {version} is not built as 0.7.32 is, and its redirects "
                     "cannot be switched off")
        return

    inputs = session.options.input_values
    limits = session.transport.limits

    def sync(seconds: float) -> list[tuple[str, str]]:
        reply = _within(seconds, lambda: client.chat_experiment(
            experiment_id=experiment_id, messages=HELLO, num_samples=SAMPLES, provider_api_keys={},
            inputs=inputs or None))
        return _check_samples(reply, "chat_experiment")

    def async_(seconds: float) -> list[tuple[str, str]]:
        reply = asyncio.run(_bounded(seconds, lambda: client.achat_experiment(
            experiment_id=experiment_id, messages=HELLO, num_samples=SAMPLES, provider_api_keys={},
            inputs=inputs or None)))
        return _check_samples(reply, "achat_experiment")

    def stream(seconds: float) -> list[tuple[str, str]]:
        return _check_chunks(asyncio.run(_bounded(seconds, lambda: _collect_stream(client, experiment_id, inputs))))

    calls: list[tuple[str, Callable[[float], list[tuple[str, str]]], float]] = [
        (SDK_SYNC, sync, limits.timeout), (SDK_ASYNC, async_, limits.timeout),
        (SDK_STREAM, stream, limits.stream_timeout)]
    for check, call, limit in calls:
        if only is not None and check not in only:
            continue
        try:
            session.transport.take_budget()
        except (BudgetExhausted, DeadlineReached):
            session.note("SDK profile cut short: request budget or deadline reached")
            return
        seconds = min(limit, session.transport.deadline.remaining())
        try:
            problems = call(seconds)
        except _TooSlow:
            problems = [("client", f"the call did not finish within {seconds:.3g} s")]
        except Exception as failed:  # the client's own exceptions are what this profile reports
            problems = [("client", _failure(failed))]
        body = chat_body(experiment_id, inputs, num_samples=SAMPLES, stream=check == SDK_STREAM)
        session.judge(check, problems, CHAT, request=Request("POST", "/chat-experiment", CHAT, f"sdk {check}",
                                                             Intent.VALID, encode(body)))
    session.note(f"SDK profile: humanloop {version} (sync, async, stream) against {experiment_id}")
