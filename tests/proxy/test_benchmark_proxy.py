"""The proxy benchmark runs and reports each figure against the upstream's own CPU per call."""

from __future__ import annotations

import re

from benchmarks.proxy import measure


def test_the_proxy_benchmark_reports_every_figure() -> None:
    lines = measure(calls=5)
    assert [line.split(":")[0].strip() for line in lines] == [
        "JSON call", "through the proxy (forward, relay, journal, checks)", "through the proxy with --record",
        "stream (2 samples)", "through the proxy (forward, relay, journal, checks)", "through the proxy with --record"]
    assert all(re.search(r"\d+\.\d\d ms CPU per call", line) for line in lines)
    assert all(re.search(r"(= \d+\.\d\dx the upstream's own| \(the upstream's own was under one clock tick: more "
                         r"--calls\))$", line) for line in lines if line.startswith("  "))
