"""A shared `serve --isolate-keys` that no tenant can freeze, flood or read (issue 16).

One real server, two tenants. The victim sets up its world (a spec, a script, a fault, a few calls
whose log ids it will rate) and then calls the server in a loop from a process of its own, timing
every answer. Meanwhile the hostile tenant runs every case of the issue against the defaults. Before
the fix, case 2 alone held every tenant for 9 s (Python's `re` on `(a+)+$`), case 3 for 4 s, and
cases 4 and 5 took the victim's world, journal and log ids away. Now each case is answered as
documented, every victim call is answered within 250 ms, and the victim's world is intact.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.api.test_key_redaction import SECRET as LEAK_SECRET
from tests.api.test_key_redaction import SHAPES as LEAK_SHAPES
from tests.support.process import serve_logged
from tests.support.tenants import (
    MIB,
    VICTIM,
    Probe,
    admin,
    ahead_of_the_machine,
    assert_victim_intact,
    chat,
    set_up_victim,
    victim_probe,
)

HOSTILE = "hostile-key"
VICTIM_BOUND = 0.25  # seconds: the bound on every victim call while the hostile tenant runs
CATASTROPHIC = "(a+)+$"
EVIL = "a" * 27 + "b"  # 9.1 s in Python's `re` (the measurement); each extra `a` doubles it
SECRET = "sk-hostile-SECRET"
# RE2's DFA gives up on this one and its NFA takes about 9 us a character (review of issue 16, finding 2).
DFA_BLOWUP = "[ab]*a[ab]{1000}"


def raw_exchange(root: str, request: bytes) -> bytes:
    port = int(root.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def post_raw(root: str, path: str, body: bytes, key: str = HOSTILE) -> httpx.Response:
    return httpx.post(f"{root}{path}", content=body, timeout=120,
                      headers={"X-API-KEY": key, "Content-Type": "application/json"})


def _detail(response: httpx.Response) -> Any:
    return response.json()["detail"]


# --- the hostile tenant's cases, each checking what the server answers now ----------------------

def case_1_invalid_regexes(root: str) -> None:
    for pattern in ("([", "\\", "(?P<x>a)(?P=y)", "a{99999999999}"):
        doors = [admin(root, HOSTILE, "POST", "scripts", json={"match": {"message_regex": pattern},
                                                               "answer": {"output": "x"}}),
                 admin(root, HOSTILE, "POST", "faults", json={"match": {"message_regex": pattern}, "status": 500}),
                 admin(root, HOSTILE, "PUT", "spec", json={"faults": [{"match": {"message_regex": pattern},
                                                                       "status": 500}]}),
                 admin(root, HOSTILE, "GET", f"requests?message_regex={quote(pattern)}")]
        for answer in doors:
            assert answer.status_code == 422, (pattern, answer.text)
            assert "message_regex" in answer.text and "invalid regular expression" in answer.text


def case_2_catastrophic_regex(root: str) -> None:
    script = {"match": {"message_regex": CATASTROPHIC}, "answer": {"output": "matched"}, "times": None}
    assert admin(root, HOSTILE, "POST", "scripts", json=script).status_code == 201
    for text in (EVIL, "a" * 40 + "b", "a" * 2_000_000 + "b"):  # 9 s, 2.5 days, forever in Python's `re`
        answer = chat(root, HOSTILE, text, experiment_id="exp_demo")
        assert answer.status_code == 200 and answer.json()["data"][0]["output"] != "matched"
    # The same pattern through the journal filter, with those messages journaled.
    listed = admin(root, HOSTILE, "GET", f"requests?message_regex={quote(CATASTROPHIC)}")
    assert listed.status_code == 200 and listed.json()["total"] == 0
    # A pattern that is slow for RE2 too: matched in the matching thread, or refused (413) past the step limit.
    blowup = {"match": {"message_regex": DFA_BLOWUP}, "answer": {"output": "blown"}, "times": None}
    assert admin(root, HOSTILE, "POST", "scripts", json=blowup).status_code == 201
    matched = chat(root, HOSTILE, "ab" * 100_000, experiment_id="exp_demo")  # 2e8 steps: about 2 s in a thread
    assert matched.status_code == 200 and matched.json()["data"][0]["output"] == "blown"
    too_costly = chat(root, HOSTILE, "ab" * 300_000, experiment_id="exp_demo")  # 6e8 steps
    assert too_costly.status_code == 413 and "steps" in too_costly.text
    # The journal holds the 2,000,001-character message: over the limit before anything is matched.
    listed = admin(root, HOSTILE, "GET", f"requests?message_regex={quote(DFA_BLOWUP)}")
    assert listed.status_code == 413 and "steps" in listed.text


def case_2b_pattern_flood(root: str) -> None:
    """Many distinct slow patterns through the journal filter (each compiled, each matched in the thread)."""
    flooder = "pattern-flooder"
    assert chat(root, flooder, "ab" * 5_000, experiment_id="exp_demo").status_code == 200
    for n in range(40):
        listed = admin(root, flooder, "GET", "requests",
                       params={"chat": "true", "message_regex": f"(?:{n})?{DFA_BLOWUP}"})
        assert listed.status_code == 200 and listed.json()["total"] == 1, listed.text[:300]


def case_3_big_admin_work(root: str) -> None:
    experiments = [{"name": f"experiment-{n}", "configs": [{"model": "gpt-4o-mini"}]} for n in range(95_000)]
    huge = json.dumps({"projects": [{"name": "p", "experiments": experiments}]}).encode()
    assert 6_000_000 < len(huge) < 8 * MIB  # 6.4 MB, under the body limit, as in the issue
    refused = httpx.put(f"{root}/__admin/spec", content=huge, timeout=120, headers={"X-API-KEY": HOSTILE})
    assert refused.status_code == 413 and "--max-body-values" in refused.text
    largest = {"projects": [{"name": "p", "experiments": [
        {"name": f"e{n}", "configs": [{"model": "gpt-4o", "temperature": 0.5}]} for n in range(995)]}]}
    loaded = admin(root, HOSTILE, "PUT", "spec", json=largest)
    if loaded.status_code == 413:  # past the tenant's share of the byte budget: refused, never kept
        assert "share" in _detail(loaded)
    else:
        assert loaded.status_code == 200 and len(loaded.json()["experiments"]) == 995
    over = {"projects": [{"name": "p", "experiments": [{"name": f"e{n}", "configs": [{"model": "m"}]}
                                                       for n in range(1001)]}]}
    assert admin(root, HOSTILE, "PUT", "spec", json=over).status_code == 413  # 2,002 items: over the limit
    for _ in range(3):
        assert admin(root, HOSTILE, "POST", "reset").status_code == 200


def case_4_memory(root: str) -> None:
    big = "x" * (4 * MIB)
    script = json.dumps({"answer": {"output": big}})
    provision = json.dumps({"experiment_id": big, "messages": [{"role": "user", "content": "hi"}]})
    register = json.dumps({"project": "p", "model": "gpt-4o", "chat_template": [{"role": "system", "content": big}]})
    for n in range(40):  # each one distinct, as in the issue
        added = post_raw(root, "/__admin/scripts", script.replace('"x', f'"{n}', 1).encode())
        assert added.status_code == 413 and "share" in _detail(added), added.text[:200]
    for n in range(20):
        provisioned = post_raw(root, "/v4/chat-experiment", provision.replace('"x', f'"{n}', 1).encode())
        assert provisioned.status_code == 413 and "share" in _detail(provisioned)
        registered = post_raw(root, "/v4/model-configs", register.replace('"x', f'"{n}', 1).encode())
        assert registered.status_code == 413 and "share" in _detail(registered)


def case_5_other_tenants(root: str) -> dict[str, Any]:
    # A guessed body adds nothing a tenant can see: memo tables are per world.
    before = admin(root, HOSTILE, "GET", "server").json()
    guess = chat(root, "guesser", "hello there")  # the victim's exact body, from another key
    after = admin(root, HOSTILE, "GET", "server").json()
    assert guess.status_code == 200 and "memo" not in after and before["tenant"] == after["tenant"]
    # Large calls from another tenant: the one using the most bytes gives up its own entries.
    large = json.dumps({"experiment_id": "exp_demo", "messages": [{"role": "user", "content": "y" * (4 * MIB)}]})
    for n in range(20):
        assert post_raw(root, "/v4/chat-experiment", large.replace('"y', f'"{n}', 1).encode()).status_code == 200
    # Fresh keys until every tenant slot is taken: then 503 with Retry-After, no world evicted.
    refused = None
    for n in range(300):
        answer = httpx.get(f"{root}/__admin/info", headers={"X-API-KEY": f"fresh-{n}"}, timeout=30)
        if answer.status_code == 503:
            refused = answer
            break
        assert answer.status_code == 200
    assert refused is not None and int(refused.headers["retry-after"]) >= 1 and "--max-tenants" in refused.text
    return admin(root, HOSTILE, "GET", "server").json()


def case_6_provider_keys(root: str) -> None:
    shapes = [b'{"provider_api_keys": {"openai": {"k": "' + SECRET.encode() + b'"}}, oops',
              b'{"experiment_id": "exp_demo", "provider_api_key\\u0073": {"openai": "' + SECRET.encode() + b'"}}',
              json.dumps([{"provider_api_keys": {"openai": SECRET}}]).encode(),
              json.dumps({"experiment_id": "exp_demo", "provider_api_keys": SECRET}).encode()]
    for body in shapes:
        assert post_raw(root, "/v4/chat-experiment", body).status_code == 422
    journal = admin(root, HOSTILE, "GET", "requests", params={"since": -1})
    assert journal.status_code == 200 and SECRET not in journal.text and journal.text.count("[redacted]") >= 4
    # The review's shapes: UTF-16/32 JSON, form brackets, %5B and %5F, multipart, single quotes, the query.
    for name, (body, content_type, query) in LEAK_SHAPES.items():
        answer = httpx.post(f"{root}/v4/chat-experiment" + (f"?{query}" if query else ""), content=body,
                            headers={"X-API-KEY": HOSTILE, "Content-Type": content_type}, timeout=60)
        assert answer.status_code in (200, 422), (name, answer.status_code)
    journal = admin(root, HOSTILE, "GET", "requests", params={"limit": len(LEAK_SHAPES), "since": -1})
    assert journal.status_code == 200 and len(journal.json()["requests"]) == len(LEAK_SHAPES)
    assert LEAK_SECRET not in journal.text and "[redacted]" in journal.text


def case_6b_large_bodies_naming_the_key(root: str) -> None:
    """Bodies of several MiB built to make taking the key out slow (review finding 1: 8 s of the loop)."""
    head = b'{"provider_api_keys": {"openai": "' + SECRET.encode() + b'"}, '
    bodies = [head + (b"provider_api_keys:{" + b"[]" * 49_999 + b"}") * 70,  # the token walk, 7 MB
              head + b'"x": [' + b'"",' * 2_300_000 + b'""]}',  # 7 MB of empty strings
              head + b"\\u" + b"x" * (7 * MIB)]  # one escape, then filler
    for body in bodies:
        assert 6 * MIB < len(body) < 8 * MIB
        answer = post_raw(root, "/v4/chat-experiment", body)
        assert answer.status_code in (413, 422), answer.text[:300]
    journal = admin(root, HOSTILE, "GET", "requests", params={"limit": len(bodies), "since": -1})
    assert journal.status_code == 200 and len(journal.json()["requests"]) == len(bodies)
    assert SECRET not in journal.text


def case_7_protocol_answers(root: str) -> None:
    host = root.removeprefix("http://")
    upgrade = raw_exchange(root, b"GET /v4/healthz HTTP/1.1\r\nHost: " + host.encode() + b"\r\nUpgrade: websocket\r\n"
                           b"Connection: Upgrade\r\nX-API-KEY: " + HOSTILE.encode() + b"\r\n\r\n")
    assert upgrade.startswith(b"HTTP/1.1 200 ") and b"connection: close" in upgrade.lower()
    expect = raw_exchange(root, b"POST /v4/chat-experiment HTTP/1.1\r\nHost: " + host.encode() + b"\r\nX-API-KEY: "
                          + HOSTILE.encode() + b"\r\nExpect: 100-continue\r\nContent-Length: 99999999\r\n\r\n")
    assert expect.startswith(b"HTTP/1.1 413 ") and b"100 Continue" not in expect
    two_hosts = raw_exchange(root, b"GET /v4/healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n"
                             b"X-API-KEY: " + HOSTILE.encode() + b"\r\n\r\n")
    assert two_hosts.startswith(b"HTTP/1.1 400 ") and b"more than one Host" in two_hosts
    statuses = [r["status"] for r in admin(root, HOSTILE, "GET", "requests", params={"limit": 3}).json()["requests"]]
    assert statuses == [200, 413, 400]  # each one journaled, with the answer it got


def case_big_bodies(root: str) -> None:
    dense = b'{"experiment_id": "exp_demo", "messages": [], "inputs": {"x": [' + b"0," * 3_000_000 + b"0]}}"
    refused = post_raw(root, "/v4/chat-experiment", dense)
    assert refused.status_code == 413 and "--max-body-values" in refused.text
    many = json.dumps({"experiment_id": "exp_demo", "messages": [{"role": "user", "content": "a"}] * 3500}).encode()
    assert post_raw(root, "/v4/chat-experiment", many).status_code == 200
    listed = admin(root, HOSTILE, "GET", "requests", params={"chat": "true", "message_regex": "^a+$"})
    assert listed.status_code == 200 and listed.json()["total"] >= 1


CASES = [case_1_invalid_regexes, case_2_catastrophic_regex, case_2b_pattern_flood, case_3_big_admin_work,
         case_4_memory, case_6_provider_keys, case_6b_large_bodies_naming_the_key, case_7_protocol_answers,
         case_big_bodies]


def _assert_fast(probe: Probe, during: str) -> None:
    probe.assert_counted(100)  # and at most a tenth of them discounted
    assert not probe.failures, probe.failures[:5]
    assert probe.slowest < VICTIM_BOUND, f"a victim call took {probe.slowest * 1000:.0f} ms during {during}: " \
                                         f"{probe.summary()}"


def test_a_hostile_tenant_running_every_case_leaves_the_victim_fast_and_whole(tmp_path: Path) -> None:
    with serve_logged(tmp_path, "--isolate-keys", "--log-level", "warning",
                      preexec_fn=ahead_of_the_machine) as (url, process, log):
        root = url.removesuffix("/v4")
        world = set_up_victim(root)
        with victim_probe(root, tmp_path) as seen:
            started = time.monotonic()
            steps = []
            for case in CASES:
                steps.append((case.__name__, round(time.time(), 3)))
                case(root)
            steps.append(("case_5_other_tenants", round(time.time(), 3)))
            kept = case_5_other_tenants(root)
            hostile_seconds = time.monotonic() - started
        probe = seen[0]
        _assert_fast(probe, f"{hostile_seconds:.0f} s of hostile work (cases began at {steps})")
        assert_victim_intact(root, world)
        # The hostile tenant paid for its own flood: its entries went, the victim's stayed.
        assert kept["kept"]["dropped"] > 0 and kept["kept"]["used"] <= kept["kept"]["limit"] + 16 * MIB
        assert process.poll() is None
        assert SECRET not in log.read_text(errors="replace") and LEAK_SECRET not in log.read_text(errors="replace")
        assert "Traceback" not in log.read_text(errors="replace")


# A client in a process of its own: one request, whatever becomes of it (the server is told to stop).
_CLIENT = r"""
import http.client, sys
host, port, method, path, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
body = sys.stdin.buffer.read() if method == "POST" else None
try:
    connection = http.client.HTTPConnection(host, port, timeout=60)
    connection.request(method, path, body=body, headers={"X-API-KEY": key, "Content-Type": "application/json"})
    connection.getresponse().read()
except OSError:
    pass
"""


def _client_process(root: str, method: str, path: str, body: bytes = b"") -> subprocess.Popen[bytes]:
    host, port = root.removeprefix("http://").rsplit(":", 1)
    process = subprocess.Popen([sys.executable, "-c", _CLIENT, host, port, method, path, HOSTILE],
                               stdin=subprocess.PIPE)
    assert process.stdin is not None
    process.stdin.write(body)
    process.stdin.close()
    return process


@pytest.mark.parametrize("with_regex", [True, False])
def test_sigterm_is_honoured_within_the_shutdown_timeout_whatever_a_request_does(tmp_path: Path,
                                                                                 with_regex: bool) -> None:
    """Before, a 9 s regex kept the server running 20 s after SIGTERM with --shutdown-timeout 2."""
    with serve_logged(tmp_path, "--isolate-keys", "--shutdown-timeout", "2") as (url, process, _):
        root = url.removesuffix("/v4")
        if with_regex:
            script = {"match": {"message_regex": CATASTROPHIC}, "answer": {"output": "x"}, "times": None}
            assert admin(root, HOSTILE, "POST", "scripts", json=script).status_code == 201
        body = json.dumps({"experiment_id": "exp_demo",
                           "messages": [{"role": "user", "content": "a" * (6 * MIB) + "b"}]}).encode()
        for _ in range(3):  # a journal of large entries to list and filter
            assert post_raw(root, "/v4/chat-experiment", body).status_code == 200
        listing = f"/__admin/requests?chat=true&message_regex={quote(CATASTROPHIC)}"
        workers = [_client_process(root, "GET", listing) for _ in range(4)]
        workers += [_client_process(root, "POST", "/v4/chat-experiment", body) for _ in range(2)]
        deadline = time.monotonic() + 20
        while admin(root, HOSTILE, "GET", "requests", params={"limit": 0}).json()["total"] < 5:  # both bodies in
            assert time.monotonic() < deadline
            time.sleep(0.01)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
        took = time.monotonic() - started
        for worker in workers:
            worker.wait(timeout=30)
    assert code in (-signal.SIGTERM, 128 + signal.SIGTERM, 0), code
    assert took < 2 + 1.5, f"exited {took:.1f} s after SIGTERM with --shutdown-timeout 2"


def test_the_victims_log_ids_and_journal_survive_the_hostile_flood_in_a_small_budget(tmp_path: Path) -> None:
    """Issue 16, case 5: 20 large calls from another tenant emptied the victim's journal and made its
    log ids answer 404. With a 32 MiB budget the hostile tenant's 20 calls of 4 MiB are far over it."""
    with serve_logged(tmp_path, "--isolate-keys", "--max-kept-bytes", str(32 * MIB)) as (url, _, _):
        root = url.removesuffix("/v4")
        world = set_up_victim(root)
        for _ in range(30):
            assert chat(root, VICTIM).status_code == 200
        for n in range(20):
            assert chat(root, HOSTILE, f"{n} " + "z" * (4 * MIB), experiment_id="exp_demo").status_code == 200
        server = admin(root, VICTIM, "GET", "server").json()
        assert server["kept"]["dropped"] >= 10  # the hostile tenant's own entries went
        assert server["tenant"]["by_kind"]["journal"] > 0
        hostile = admin(root, HOSTILE, "GET", "requests", params={"limit": 0}).json()["total"]
        assert hostile < 20
        assert admin(root, VICTIM, "GET", "requests", params={"limit": 0}).json()["total"] == world.journal_total + 30
        assert_victim_intact(root, world)


def test_fresh_keys_never_evict_a_tenant_in_use(tmp_path: Path) -> None:
    """Issue 16, case 5: 256 requests with fresh keys evicted the victim's world (its spec and scripts)."""
    with serve_logged(tmp_path, "--isolate-keys", "--max-tenants", "8") as (url, _, _):
        root = url.removesuffix("/v4")
        world = set_up_victim(root)
        statuses = [chat(root, f"fresh-{n}", experiment_id="exp_demo").status_code for n in range(256)]
        assert statuses.count(200) == 7 and statuses.count(503) == 249  # the victim holds the eighth slot
        assert httpx.get(f"{root}/healthz", headers={"X-API-KEY": "fresh-new"}).status_code == 200  # no world made
        assert_victim_intact(root, world)
        info = admin(root, VICTIM, "GET", "server").json()
        assert (info["tenants"], info["tenants_evicted"], info["tenants_refused"]) == (8, 0, 249)


def test_an_idle_world_makes_room_after_the_idle_timeout(tmp_path: Path) -> None:
    with serve_logged(tmp_path, "--isolate-keys", "--max-tenants", "2", "--tenant-idle-timeout", "1") as (url, _, _):
        root = url.removesuffix("/v4")
        for key in ("a", "b"):
            assert chat(root, key, experiment_id="exp_demo").status_code == 200
        refused = chat(root, "c", experiment_id="exp_demo")
        assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
        time.sleep(1.1)
        assert chat(root, "c", experiment_id="exp_demo").status_code == 200
        assert admin(root, "c", "GET", "server").json()["tenants_evicted"] == 1


def test_memo_counts_no_longer_tell_whether_another_tenant_sent_a_body(tmp_path: Path) -> None:
    """Issue 16, case 5: a guessed body added no memo entry, a wrong guess added one."""
    with serve_logged(tmp_path, "--isolate-keys") as (url, _, _):
        root = url.removesuffix("/v4")
        set_up_victim(root)

        def guess(text: str) -> dict[str, Any]:
            assert chat(root, "spy", text, experiment_id="exp_demo").status_code == 200
            return admin(root, "spy", "GET", "server").json()

        right, wrong = guess("hello there"), guess("goodbye there")
        assert right["tenant"]["memo"]["chat-request"] == 1 and wrong["tenant"]["memo"]["chat-request"] == 2
        assert "memo" not in right  # nothing server-wide counts memo entries


def test_nothing_hostile_reaches_the_log(tmp_path: Path) -> None:
    """RE2 never prints a client's pattern; a provisioned id of megabytes is never logged whole."""
    with serve_logged(tmp_path, "--isolate-keys") as (url, _, log):
        root = url.removesuffix("/v4")
        assert admin(root, HOSTILE, "POST", "scripts",
                     json={"match": {"message_regex": "([\nFORGED"}, "answer": {"output": "x"}}).status_code == 422
        assert chat(root, HOSTILE, "hi", experiment_id="exp_" + "q" * 100_000).status_code == 200
        time.sleep(0.2)
        text = log.read_text(errors="replace")
    assert "FORGED" not in text and "q" * 1000 not in text
    assert re.search(r"Unknown experiment exp_q+\.\.\.", text)
