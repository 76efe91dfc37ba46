"""A cassette loaded for a world (`POST /__admin/cassette`, the fixture's `replay`) is held by that world:
what loading it keeps is charged, generously, to its account; a tenant's share is checked from the file's
size before a byte of it is read; letting it go, replacing it or a reset gives the bytes back."""

from __future__ import annotations

import gc
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from mockserver import MockSettings, create_app
from mockserver.control.service import MockControl
from mockserver.recording.har import new_cassette
from mockserver.recording.store import save_cassette
from mockserver.world.tenants import Tenants
from tests.recording.factory import chat, event, json_exchange, stream_exchange

SHAPES = {  # the extremes measured when the estimate was made (many small recordings, few large ones, streams),
    # and files written to cost more in memory than in bytes (a list is 3 bytes of file, about 60 in memory)
    "many small JSON answers": lambda: [json_exchange(chat(f"q{n}"), {"data": [{"output": "x" * 100}]})
                                        for n in range(1500)],
    "few large JSON answers": lambda: [json_exchange(chat(f"q{n}"), {"data": [{"output": "x" * 50_000}]})
                                       for n in range(60)],
    "streams of small events": lambda: [stream_exchange(chat(f"q{n}"), [(1.0, event({"output": "y" * 50}))] * 20)
                                        for n in range(200)],
    "request bodies of empty lists": lambda: [json_exchange({**chat(f"q{n}"), "pad": [[]] * 20_000}, {"data": []})
                                              for n in range(3)],
    "thousands of empty headers": lambda: [json_exchange(chat(f"q{n}"), {"data": []},
                                                         headers=[("X-API-KEY", "k" * 12)]
                                                         + [(f"h{i}", "") for i in range(5_000)])
                                           for n in range(3)],
}


def _cassette(tmp_path: Path, exchanges: list[Any], name: str = "calls.har") -> Path:
    path = tmp_path / name
    save_cassette(new_cassette(entries=exchanges), path)
    return path


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_what_a_loaded_cassette_keeps_is_charged_to_its_world(tmp_path: Path, shape: str) -> None:
    path = _cassette(tmp_path, SHAPES[shape]())
    tenants = Tenants(MockSettings(isolate_keys=True, max_tenants=2, max_kept_bytes=1 << 32))  # (room to measure)
    MockControl(tenants.for_key("warm-up")).load_cassette({"path": str(path)})  # (imports, lazy validators)
    world = tenants.for_key("tenant")
    control = MockControl(world)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        control.load_cassette({"path": str(path)})
        gc.collect()
        kept = sum(stat.size_diff for stat in tracemalloc.take_snapshot().compare_to(before, "filename"))
    finally:
        tracemalloc.stop()
    charged = world.account.by_kind["cassette"]
    assert world.replay is not None and 0 < kept <= charged, (kept, charged)
    assert charged <= 4 * kept + 2 * path.stat().st_size + 32 * 1024, (kept, charged)  # generous, not absurd
    control.unload_cassette()
    assert world.account.by_kind["cassette"] == 0 and world.replay is None


def test_a_tenant_cannot_load_a_cassette_past_its_share_and_none_is_read(tmp_path: Path) -> None:
    """At the defaults with `--isolate-keys`, a world may hold about 522 KB: a 1 MB file is refused with 413
    from its size alone (it is not even JSON, and no 422 says so), while a small cassette loads, is shown in
    `/__admin/server`, replaces rather than adds to the one before, and is given back by a reset. One whose
recordings, once counted, are more than the share can hold is refused too, and the one before stays."""
    too_big = tmp_path / "big.har"
    too_big.write_bytes(b"not json " * 120_000)
    small = _cassette(tmp_path, SHAPES["many small JSON answers"]()[:5])
    crowded = _cassette(tmp_path, SHAPES["many small JSON answers"]()[:100], "crowded.har")  # small file, many
    app = create_app(MockSettings(isolate_keys=True))
    headers = {"X-API-KEY": "tenant"}
    with TestClient(app) as client:
        refused = client.post("/__admin/cassette", headers=headers, json={"path": str(too_big)})
        loaded = [client.post("/__admin/cassette", headers=headers, json={"path": str(small)}) for _ in range(3)]
        held = client.get("/__admin/server", headers=headers).json()["tenant"]["by_kind"]["cassette"]
        too_many = client.post("/__admin/cassette", headers=headers, json={"path": str(crowded)})
        still = client.get("/__admin/cassette", headers=headers).json()
        answered = client.post("/v4/chat-experiment", headers=headers, json=chat("q0"))
        client.post("/__admin/reset", headers=headers)
        after_reset = client.get("/__admin/server", headers=headers).json()["tenant"]["by_kind"]["cassette"]
    assert refused.status_code == 413 and "Cassette not loaded" in refused.json()["detail"]
    assert [r.status_code for r in loaded] == [200, 200, 200]
    world = app.state.tenants.for_key("tenant", create=False)
    assert 2 * small.stat().st_size < held < 3 * (2 * small.stat().st_size + 5 * 9 * 1024)  # once, not 3x
    # A file small enough to read, whose recordings the share cannot hold once counted: 413, nothing changes.
    assert crowded.stat().st_size * 2 < 522_000 and too_many.status_code == 413
    assert still["cassette"] == str(small) and still["recordings"] == 5
    assert answered.status_code == 200 and answered.json() == {"data": [{"output": "x" * 100}]}
    assert after_reset == 0 and world.replay is None


def test_without_isolated_keys_a_large_cassette_is_counted_not_refused(tmp_path: Path) -> None:
    """A server of one world (and the plugin's in-process server) never refuses a cassette for its size below
    the 64 MiB file limit: it is counted in `/__admin/server`, and the journal makes room for it."""
    path = _cassette(tmp_path, SHAPES["many small JSON answers"]())
    app = create_app(MockSettings(max_kept_bytes=4 * 1024 * 1024))  # (a world may hold 2 MiB: this one is more)
    with TestClient(app) as client:
        loaded = client.post("/__admin/cassette", headers={"X-API-KEY": "k"}, json={"path": str(path)})
        kept = client.get("/__admin/server", headers={"X-API-KEY": "k"}).json()["kept"]
    assert loaded.status_code == 200 and loaded.json()["recordings"] == 1500
    assert kept["by_kind"]["cassette"] > kept["held_cap"] == 2 * 1024 * 1024


def test_a_world_dropped_while_its_cassette_loads_is_charged_nothing(tmp_path: Path) -> None:
    """A world evicted while a request for it waited (its account closed) holds nothing more: what it would
    have held is not charged to the server's budget for ever after."""
    tenants = Tenants(MockSettings(isolate_keys=True, max_tenants=1, tenant_idle_timeout=0))
    world = tenants.for_key("a")
    tenants.for_key("b")  # takes the only slot: "a" is dropped
    used = tenants.budget.used
    world.use_cassette(object(), 300_000)
    assert world.account.closed and tenants.budget.used == used
