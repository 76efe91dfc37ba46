"""Which checks' failures break the official clients: found by running them, not asserted.

For every check, one or more witnesses: answers that fail that check (and, for `content_type_json`,
answers it must let pass). Each is served by a loopback raw server and met by the official clients:
Python `humanloop==0.7.32` (`chat_experiment`, `achat_experiment`, `chat_experiment_stream`; the
last two once with aiohttp's C parser and once with its Python parser, as `-py`) and
npm `humanloop@0.5.36` (`chatExperiment`, `chatExperimentStream`, `experiments.delete` and
`.sample`). A client is broken by an answer when it hangs, raises something other than its own
API error, raises at all where the caller was owed an answer, or hands the caller other samples
than the answer held. A check `breaks-clients` when one of its witnesses breaks one client, else
it is `contract`. `tests/checker/test_severity.py` re-derives the table and compares it with the
severities in `contracts/check/checks.py`; `python -m tests.checker.client_evidence` prints it.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contracts.check.checks import BREAKS_CLIENTS, CHECKS, CONTRACT, Settings
from contracts.check.exchange import dig, items, loads
from contracts.check.judge import judge_answer
from contracts.check.sdk import closing_sessions
from contracts.check.sse import parse_stream
from tests.checker.hostile import frame, good_answers
from tests.checker.raw_server import RESET, Answer, Pause, RawServer, Seen, json_answer

KEY = "evidence-key"
CALL_LIMIT = 3.0  # seconds a client call may take before it counts as hung
MESSAGES = [{"role": "user", "content": "hi"}]
LATE = 0.6  # seconds before the first byte, for first_byte_time (judged with a 0.3 s limit)
# `-py`: the same call with aiohttp on its own Python parser, as it runs where its C extension is not
# installed (no wheel for the platform, or AIOHTTP_NO_EXTENSIONS=1); the two parsers draw some lines apart.
MODES = {"json": ("python-sync", "python-async", "python-async-py", "npm-json"),
         "stream": ("python-stream", "python-stream-py", "npm-stream"),
         "delete": ("npm-delete",), "sample": ("npm-sample",)}


@dataclass(frozen=True)
class Witness:
    """An answer, the call it answers, and whether the caller was owed samples or expects an error."""

    check: str
    name: str
    status: int
    content_type: str | None
    body: bytes
    mode: str = "json"  # which calls meet it (MODES)
    expects_error: bool = False  # the caller sent something the contract forbids (or no key)
    wire: str = "whole"  # "whole", "reset" (halfway), "silent" (no byte), "late" (first byte after LATE s)
    request: dict[str, Any] = field(default_factory=dict)  # more fields of the request, for judging it
    has_key: bool = True
    fails: bool = True  # False: an answer the check must let pass
    meant: bytes | None = None  # the events as the server meant them, when `body` frames them wrongly
    headers: tuple[tuple[str, str], ...] = ()  # more headers of the answer, after its Content-Type

    def answer(self) -> Answer:
        headers = ((("Content-Type", self.content_type),) if self.content_type else ()) + self.headers
        if self.wire == "silent":
            return Answer(head=b"", parts=(Pause(3600),))
        if self.wire == "reset":
            return Answer(self.status, headers, (self.body[: len(self.body) // 2], RESET), content_length=False)
        if self.wire == "late":
            return Answer(self.status, (*headers, ("Connection", "close")), (Pause(LATE), self.body),
                          content_length=False)
        return Answer(self.status, headers, (self.body,))

    @property
    def holds(self) -> dict[str, Any]:
        """The samples the answer holds, as the caller should get them: joined output per index."""
        samples: dict[str, Any] = {}
        raw = self.meant if self.meant is not None else self.body
        try:
            body = loads(raw)
        except ValueError:
            body = None
        if isinstance(body, dict):
            for item in items(body.get("data")):
                _collect(samples, item)
            return samples
        for payload in parse_stream(raw).payloads:
            try:
                for item in items(dig(loads(payload), "data")):
                    _collect(samples, item)
            except ValueError:
                continue
        return samples

    def flagged(self) -> bool | None:
        """Whether the check names this answer (None: a check over several answers, not judged alone)."""
        if CHECKS[self.check].run is None:
            return None
        method, path = {"delete": ("DELETE", "/experiments/exp_x"), "sample": ("GET", "/experiments/exp_x/model-config")
                        }.get(self.mode, ("POST", "/chat-experiment"))
        sent = None if method != "POST" else json.dumps({
            "experiment_id": "exp_demo", "messages": MESSAGES, "num_samples": 2, "stream": self.mode == "stream",
            **self.request}).encode()
        error = {"reset": "the connection broke", "silent": "no whole answer"}.get(self.wire)
        head = {"content-type": self.content_type or "", **dict(self.headers)}
        if self.headers:  # (the raw server adds a Content-Length: a line the clients count too)
            head["content-length"] = str(len(self.body))
        verdict = judge_answer(method, path, sent, 0 if self.wire == "silent" else self.status, head, self.body,
                               has_key=self.has_key,
                               first_byte_seconds=LATE if self.wire == "late" else 0.0, error=error,
                               settings=Settings(max_first_byte=LATE / 2))
        return any(v.check == self.check for v in verdict.violations)


def _collect(samples: dict[str, Any], item: Any) -> None:
    index = item.get("index") if isinstance(item, dict) else getattr(item, "index", None)
    piece = item.get("output") if isinstance(item, dict) else getattr(item, "output", None)
    key = json.dumps(index, default=str)
    if key in samples and isinstance(samples[key], str) and isinstance(piece, str):
        samples[key] += piece
    elif key not in samples:
        samples[key] = piece


@dataclass
class Outcome:
    client: str
    result: str  # "returned", "raised", "hung"
    samples: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    api_error: bool = False  # raised the client's own API error (what callers catch)

    def broken_by(self, witness: Witness) -> bool:
        if self.result == "hung":
            return True
        if self.result == "raised":
            return not (witness.expects_error and self.api_error)
        return witness.mode in ("json", "stream") and self.samples != witness.holds

    def describe(self, witness: Witness) -> str:
        if self.result == "returned":
            return "ok" if not self.broken_by(witness) else f"returned other samples: {_short(self.samples)}"
        if self.result == "hung":
            return f"hung ({CALL_LIMIT:g} s)"
        return ("API error (ok)" if not self.broken_by(witness) else "raised") + f": {self.error[:90]}"


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) < 80 else text[:77] + "..."


# ---- the witnesses ---------------------------------------------------------------------------------

def _json(answer: dict[str, Any]) -> bytes:
    return json.dumps(answer).encode()


def _padding(count: int, value_bytes: int) -> tuple[tuple[str, str], ...]:
    """`count` more headers, each with a value of `value_bytes` bytes."""
    return tuple((f"X-Pad-{n}", "v" * value_bytes) for n in range(count))


def _edit_items(edit: Callable[[dict[str, Any]], None]) -> bytes:
    answer = json.loads(json.dumps(good_answers()[0]))
    for item in answer["data"]:
        edit(item)
    return _json(answer)


def _edit_events(edit: Callable[[list[dict[str, Any]]], None]) -> bytes:
    events = json.loads(json.dumps(good_answers()[1]))
    edit(events)
    return frame(events)


def witnesses() -> list[Witness]:
    good, stream = _json(good_answers()[0]), frame(good_answers()[1])
    ct, es, err = "application/json", "text/event-stream", b'{"detail": [{"loc": ["body"], "msg": "x", "type": "y"}]}'

    def no_id(events: list[dict[str, Any]]) -> None:
        del events[1]["data"][0]["id"]

    def two_items(events: list[dict[str, Any]]) -> None:
        events[0]["data"] = events[0]["data"] + events[1]["data"]

    def unfinished(events: list[dict[str, Any]]) -> None:
        for event in events:
            event["data"][0]["finish_reason"] = None

    def one_sample(events: list[dict[str, Any]]) -> None:
        events[:] = [e for e in events if e["data"][0]["index"] == 0]

    def huge(events: list[dict[str, Any]]) -> None:
        events[0]["metadata"] = {"pad": "x" * (600 * 1024)}

    def garbled(events: list[dict[str, Any]]) -> None:
        events[1] = "not a chat event"  # type: ignore[call-overload]

    def shift(item: dict[str, Any]) -> None:
        item["index"] += 1

    def differs(item: dict[str, Any]) -> None:
        item["output_message"]["content"] = "something else"

    return [
        Witness("response_received", "the connection reset halfway through a JSON answer", 200, ct, good,
                wire="reset"),
        Witness("response_received", "the connection reset halfway through a stream", 200, es, stream, "stream",
                wire="reset"),
        Witness("not_a_server_error", "a valid request answered 500", 500, ct, b'{"detail": "boom"}'),
        Witness("status_code_documented", "a valid request answered 201 with the answer", 201, ct, good),
        Witness("status_code_documented", "a bad request answered 400, not 422", 400, ct, b'{"detail": "bad"}',
                expects_error=True, request={"num_samples": 0}),
        Witness("content_type_json", "a JSON answer labelled text/plain", 200, "text/plain", good),
        Witness("content_type_json", "a JSON answer labelled application/problem+json", 200,
                "application/problem+json", good),
        Witness("content_type_json", "a 200 whose body is not JSON", 200, ct, b"<html>oops</html>"),
        Witness("content_type_json", "a 422 labelled text/plain", 422, "text/plain", err, expects_error=True,
                request={"num_samples": 0}),
        Witness("content_type_json", "a 401 as application/problem+json", 401, "application/problem+json",
                b'{"title": "Unauthorized", "status": 401}', expects_error=True, has_key=False, fails=False),
        Witness("content_type_json", "a 404 as text/html", 404, "text/html", b"<h1>Not Found</h1>",
                expects_error=True, fails=False),
        Witness("content_type_json", "a JSON answer with a charset", 200, "application/json; charset=utf-8", good,
                fails=False),
        Witness("response_schema", "`output` 42", 200, ct, _edit_items(lambda i: i.update(output=42))),
        Witness("response_schema", "no `model_config_id`", 200, ct, _edit_items(lambda i: i.pop("model_config_id"))),
        Witness("validation_error_shape", "a 422 shaped {\"errors\": [...]}", 422, ct, b'{"errors": ["x"]}',
                expects_error=True, request={"num_samples": 0}),
        Witness("valid_request_accepted", "a valid request refused with 422", 422, ct, err),
        Witness("invalid_request_rejected", "a request without messages answered 200", 200, ct, good,
                expects_error=True, request={"messages": None}),
        Witness("auth_required", "a request without a key answered 200", 200, ct, good, expects_error=True,
                has_key=False),
        Witness("delete_status", "DELETE answered 200 with a JSON body", 200, ct, b'{"deleted": true}', "delete"),
        Witness("header_limits", "150 header lines", 200, ct, good, headers=_padding(148, 1)),
        Witness("header_limits", "a header value of 10 KiB", 200, ct, good, headers=_padding(1, 10 * 1024)),
        Witness("header_limits", "100 header lines (Content-Type and Content-Length among them)", 200, ct, good,
                headers=_padding(98, 1)),
        Witness("header_limits", "99 header lines", 200, ct, good, headers=_padding(97, 1), fails=False),
        # X-Pad-0 and ": " are 9 bytes of the line
        Witness("header_limits", "a header line of 8,191 bytes (a value of 8,182)", 200, ct, good,
                headers=_padding(1, 8182)),
        Witness("header_limits", "a header line of 8,190 bytes", 200, ct, good, headers=_padding(1, 8181), fails=False),
        Witness("first_byte_time", f"a stream's first byte after {LATE:g} s", 200, es, stream, "stream",
                wire="late"),
        Witness("stream_flag_content_type", "stream: true answered as JSON", 200, ct, good, "stream"),
        Witness("stream_flag_content_type", "stream: false answered as a stream", 200, es, stream),
        Witness("stream_flag_content_type", "a stream labelled application/json", 200, ct, stream, "stream"),
        Witness("stream_framing", "`data:{` without the space", 200, es, frame(good_answers()[1], b"data:"),
                "stream", meant=stream),
        Witness("stream_framing", "no blank line after each event", 200, es, frame(good_answers()[1], end=b"\n"),
                "stream", meant=stream),
        Witness("stream_framing", "CRLF line ends", 200, es, frame(good_answers()[1], end=b"\r\n\r\n"), "stream",
                meant=stream, fails=False),
        Witness("stream_framing", "comments and id, retry, event fields", 200, es, stream.replace(
            b"data: ", b": keepalive\nevent: message\nid: 1\nretry: 5\ndata: ").replace(b"\n\n", b"\n\n: ping\n\n"),
            "stream", meant=stream, fails=False),
        Witness("event_line_size", "an event line of 600 KiB", 200, es, _edit_events(huge), "stream"),
        Witness("stream_event_shape", "an event without `id`", 200, es, _edit_events(no_id), "stream"),
        Witness("stream_event_shape", "an event with two data items", 200, es, _edit_events(two_items), "stream"),
        Witness("stream_event_shape", "an event that is not a chat event", 200, es, _edit_events(garbled), "stream"),
        Witness("sample_indexes", "indexes off by one", 200, ct, _edit_items(shift)),
        Witness("sample_indexes", "a stream with one of two samples", 200, es, _edit_events(one_sample), "stream"),
        Witness("stream_finish_reason", "no finish_reason on a sample's last event", 200, es,
                _edit_events(unfinished), "stream"),
        Witness("finish_reason_value", "finish_reason 'complete'", 200, ct,
                _edit_items(lambda i: i.update(finish_reason="complete"))),
        Witness("output_matches_message", "output_message.content differs from output", 200, ct,
                _edit_items(differs)),
        Witness("json_mode_output", "JSON mode answered with prose", 200, ct,
                _edit_items(lambda i: i.update(finish_reason="stop")), request={"response_format": {
                    "type": "json_object"}}),
        Witness("coverage", "the valid chat requests answered 404", 404, ct, b'{"detail": "not found"}'),
        Witness("use_after_delete", "a deleted experiment sampled: 200", 200, ct, b'{"config": {}}', "sample"),
        Witness("resource_consistency", "a sample of a config the experiment does not hold", 200, ct,
                b'{"config": {"id": "config_other"}}', "sample"),
        Witness("sdk_sync", "a 200 whose body is not JSON (chat_experiment raises)", 200, ct, b"<html>oops</html>"),
        Witness("sdk_async", "a JSON answer labelled text/plain (achat_experiment raises)", 200, "text/plain", good),
        Witness("sdk_stream", "`data:{` without the space (the stream yields nothing)", 200, es,
                frame(good_answers()[1], b"data:"), "stream", meant=stream),
        Witness("determinism_stream_matches_json", "a stream whose text is not the JSON answer's", 200, es,
                _edit_events(lambda events: [e["data"][0].update(output="other") for e in events]), "stream"),
        Witness("determinism_repeatable", "the same request answered with other text", 200, ct,
                _edit_items(lambda i: i.update(output="other", raw_output="other"))),
        Witness("target_unresponsive", "no answer at all", 200, None, b"", wire="silent"),
    ]


# ---- the clients -----------------------------------------------------------------------------------

def _limited(call: Callable[[], Outcome], client: str) -> Outcome:
    found: list[Outcome] = []
    worker = threading.Thread(target=lambda: found.append(call()), daemon=True)
    worker.start()
    worker.join(CALL_LIMIT)
    return found[0] if found else Outcome(client, "hung")


@contextmanager
def _aiohttp_parser(pure: bool) -> Iterator[None]:
    """aiohttp's client with its Python response parser instead of the C one, for the `-py` clients."""
    import aiohttp.client_proto as protocol
    from aiohttp.http_parser import HttpResponseParser, HttpResponseParserPy

    if not pure:
        yield
        return
    protocol.HttpResponseParser = HttpResponseParserPy  # type: ignore[misc]
    try:
        yield
    finally:  # back to aiohttp's own choice (the C parser where it is installed)
        protocol.HttpResponseParser = HttpResponseParser  # type: ignore[misc]


def _python_call(url: str, client_name: str) -> Outcome:
    from humanloop import Humanloop
    from humanloop.exceptions import ApiException, ApiStreamingException

    client = Humanloop(api_key=KEY, host=url)

    async def stream() -> list[Any]:
        reply = await client.chat_experiment_stream(experiment_id="exp_demo", messages=MESSAGES, num_samples=2)
        return [chunk async for chunk in reply.content]

    def reply_of(kind: str) -> Any:
        if kind == "python-sync":
            return client.chat_experiment(experiment_id="exp_demo", messages=MESSAGES, num_samples=2)
        if kind == "python-async":
            return asyncio.run(asyncio.wait_for(closing_sessions(lambda: client.achat_experiment(
                experiment_id="exp_demo", messages=MESSAGES, num_samples=2), follow_redirects=True), CALL_LIMIT))
        return asyncio.run(asyncio.wait_for(closing_sessions(stream, follow_redirects=True), CALL_LIMIT))

    def call() -> Outcome:
        kind = client_name.removesuffix("-py")
        try:
            with _aiohttp_parser(pure=client_name.endswith("-py")):
                reply = reply_of(kind)
        except TimeoutError:
            return Outcome(client_name, "hung")
        except Exception as failed:  # what the client raised is the evidence
            api = isinstance(failed, ApiException | ApiStreamingException)
            text = " ".join(f"{type(failed).__name__}: {failed}".split())
            return Outcome(client_name, "raised", error=text[:200], api_error=api)
        samples: dict[str, Any] = {}
        got = reply if kind == "python-stream" else getattr(reply, "data", None)
        for item in got if isinstance(got, list | tuple) else []:
            _collect(samples, item)
        return Outcome(client_name, "returned", samples)

    return _limited(call, client_name)


def _npm_calls(folder: Path, calls: list[dict[str, Any]]) -> dict[tuple[int, str], Outcome]:
    script = folder / "client_evidence.mjs"
    script.write_text((Path(__file__).parent / "client_evidence.mjs").read_text())
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(calls, handle)
    ran = subprocess.run(["node", str(script), handle.name], cwd=folder, capture_output=True, text=True,
                         timeout=60 + CALL_LIMIT * len(calls), check=True)
    Path(handle.name).unlink()
    found = {}
    for record in json.loads(ran.stdout):
        found[(record["id"], record["client"])] = Outcome(
            record["client"], record["result"], record.get("samples") or {}, " ".join(record.get("error", "").split()),
            bool(record.get("api_error")))
    return found


@contextmanager
def _served(all_witnesses: list[Witness]) -> Iterator[list[str]]:
    """One raw server per witness; yields their base URLs."""
    with ExitStack() as stack:
        urls = []
        for witness in all_witnesses:
            answer = witness.answer()
            server = stack.enter_context(RawServer(lambda seen, a=answer: _answer_for(seen, a)))
            urls.append(server.url + "/v4")
        yield urls


def _answer_for(seen: Seen, answer: Answer) -> Answer:
    return answer if seen.path.startswith("/v4/") else json_answer(b'{"detail": "x"}', 404)


@dataclass
class Evidence:
    witness: Witness
    outcomes: list[Outcome]
    flagged: bool | None

    @property
    def broken(self) -> list[str]:
        return [o.client for o in self.outcomes if o.broken_by(self.witness)]


def gather(npm_folder: Path | None, only: list[Witness] | None = None) -> list[Evidence]:
    """Meet every witness with every client of its mode (npm ones only with `npm_folder`)."""
    chosen = only if only is not None else witnesses()
    with _served(chosen) as urls:
        npm_specs = [{"id": n, "url": url, "mode": w.mode, "key": KEY if w.has_key else "", "timeout_ms": int(
            CALL_LIMIT * 1000)} for n, (w, url) in enumerate(zip(chosen, urls, strict=True))]
        npm = _npm_calls(npm_folder, npm_specs) if npm_folder is not None else {}
        found = []
        for n, (witness, url) in enumerate(zip(chosen, urls, strict=True)):
            outcomes = []
            for client in MODES[witness.mode]:
                if client.startswith("npm"):
                    if npm_folder is not None:
                        outcomes.append(npm[(n, client)])
                else:
                    outcomes.append(_python_call(url, client))
            found.append(Evidence(witness, outcomes, witness.flagged()))
    return found


def derived_severities(evidence: list[Evidence]) -> dict[str, str]:
    severities: dict[str, str] = {}
    for item in evidence:
        if not item.witness.fails:
            continue
        worst = BREAKS_CLIENTS if item.broken else CONTRACT
        if severities.get(item.witness.check) != BREAKS_CLIENTS:
            severities[item.witness.check] = worst
    return severities


def table(evidence: list[Evidence]) -> list[str]:
    clients = [c for mode in MODES.values() for c in mode]
    lines = ["| check | severity | answer | " + " | ".join(clients) + " |",
             "| --- | --- | --- | " + " | ".join("---" for _ in clients) + " |"]
    derived = derived_severities(evidence)
    for item in evidence:
        cells = {o.client: o.describe(item.witness) for o in item.outcomes}
        tag = derived.get(item.witness.check, "") if item.witness.fails else "(must pass)"
        lines.append(f"| `{item.witness.check}` | {tag} | {item.witness.name} | "
                     + " | ".join(cells.get(c, "") for c in clients) + " |")
    return lines


def _brief(outcome: Outcome, witness: Witness) -> str:
    if not outcome.broken_by(witness):
        return ""
    if outcome.result == "raised":
        return f"{outcome.client} raised {outcome.error.split(':', 1)[0]}"
    if outcome.result == "hung":
        return f"{outcome.client} hung"
    return f"{outcome.client} {'got nothing' if not outcome.samples else 'got other samples'}"


def brief_table(evidence: list[Evidence]) -> list[str]:
    """The table for docs/contract.md: each answer tried, and which clients it broke."""
    derived = derived_severities(evidence)
    lines = ["| check | severity | answer tried | clients it broke |", "| --- | --- | --- | --- |"]
    for item in evidence:
        broke = [_brief(o, item.witness) for o in item.outcomes]
        met = ", ".join(o.client for o in item.outcomes)
        said = "; ".join(b for b in broke if b) or f"none ({met}: ok)"
        tag = derived.get(item.witness.check, "") if item.witness.fails else "must pass"
        lines.append(f"| `{item.witness.check}` | {tag} | {item.witness.name} | {said} |")
    return lines


if __name__ == "__main__":
    import sys

    from tests.support.npm import npm_client

    for line in (brief_table if "--brief" in sys.argv else table)(gather(npm_client())):
        print(line)
