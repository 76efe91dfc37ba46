"""The SDK profile: the official Python client's own calls against the target, when it is installed.

`humanloop==0.7.32` is the last Python release with chat-experiment. Whatever the schema says, a
deployment is only useful if this client can use it: sync, async, and streamed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from importlib import metadata
from typing import Any, TypeVar

from contracts.check.checks import SDK_ASYNC, SDK_STREAM, SDK_SYNC
from contracts.check.exchange import Intent, Request
from contracts.check.operations import CHAT
from contracts.check.scenarios import HELLO, chat_body, encode
from contracts.check.session import Session
from contracts.check.transport import BudgetExhausted

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


async def _closing_sessions(call: Callable[[], Awaitable[T]]) -> T:
    """Await an async client call, then close the aiohttp sessions it opened: the client opens one
    per request and leaves it open when the request fails."""
    import aiohttp

    opened: list[Any] = []
    original = aiohttp.ClientSession

    def tracked(*args: Any, **kwargs: Any) -> Any:
        session = original(*args, **kwargs)
        opened.append(session)
        return session

    aiohttp.ClientSession = tracked  # type: ignore[misc,assignment]
    try:
        return await call()
    finally:
        aiohttp.ClientSession = original  # type: ignore[misc]
        for session in opened:
            if not session.closed:
                await session.close()


def _check_samples(items: list[Any], what: str) -> list[tuple[str, str]]:
    problems = []
    indexes = sorted(getattr(item, "index", None) for item in items)
    if indexes != list(range(SAMPLES)):
        problems.append(("data[].index", f"{what} returned samples {indexes}, expected {list(range(SAMPLES))}"))
    for item in items:
        if not isinstance(getattr(item, "output", None), str) or not isinstance(getattr(item, "id", None), str):
            problems.append(("data[].output", f"{what} returned a sample without a string output and id"))
    return problems


async def _collect_stream(client: Any, experiment_id: str) -> list[dict[str, Any]]:
    response = await client.chat_experiment_stream(experiment_id=experiment_id, messages=HELLO,
                                                   num_samples=SAMPLES, provider_api_keys={})
    return [chunk async for chunk in response.content]


def _check_chunks(chunks: list[dict[str, Any]]) -> list[tuple[str, str]]:
    if not chunks:
        return [("(stream)", "the client yielded no events (it needs `data: <json>` and a blank line per event)")]
    problems = []
    finishes: dict[Any, list[Any]] = {}
    for chunk in chunks:
        if not isinstance(chunk.get("output"), str) or not isinstance(chunk.get("id"), str):
            problems.append(("data[0].output", "an event the client yielded lacks `output` or `id`"))
        finishes.setdefault(chunk.get("index"), []).append(chunk.get("finish_reason"))
    if sorted(finishes, key=repr) != list(range(SAMPLES)):
        problems.append(("data[0].index", f"the client saw samples {sorted(finishes, key=repr)}, "
                                          f"expected {list(range(SAMPLES))}"))
    for index, reasons in finishes.items():
        if reasons[-1] is None:
            problems.append(("data[0].finish_reason", f"sample {index}: the client's last event has no finish_reason"))
    return problems


def check_sdk(session: Session, experiment_id: str) -> None:
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

    def sync() -> list[tuple[str, str]]:
        reply = client.chat_experiment(experiment_id=experiment_id, messages=HELLO, num_samples=SAMPLES,
                                       provider_api_keys={})
        return _check_samples(list(reply.data), "chat_experiment")

    def async_() -> list[tuple[str, str]]:
        reply = asyncio.run(_closing_sessions(lambda: client.achat_experiment(
            experiment_id=experiment_id, messages=HELLO, num_samples=SAMPLES, provider_api_keys={})))
        return _check_samples(list(reply.data), "achat_experiment")

    def stream() -> list[tuple[str, str]]:
        return _check_chunks(asyncio.run(_closing_sessions(lambda: _collect_stream(client, experiment_id))))

    calls: list[tuple[str, Callable[[], list[tuple[str, str]]]]] = [
        (SDK_SYNC, sync), (SDK_ASYNC, async_), (SDK_STREAM, stream)]
    for check, call in calls:
        try:
            session.transport.take_budget()
        except BudgetExhausted:
            session.note("SDK profile cut short: request budget exhausted")
            return
        try:
            problems = call()
        except Exception as failed:  # the client's own exceptions are what this profile reports
            problems = [("client", _failure(failed))]
        body = chat_body(experiment_id, num_samples=SAMPLES, stream=check == SDK_STREAM)
        session.judge(check, problems, CHAT, request=Request("POST", "/chat-experiment", CHAT, f"sdk {check}",
                                                             Intent.VALID, encode(body)))
    session.note(f"SDK profile: humanloop {version} (sync, async, stream) against {experiment_id}")
