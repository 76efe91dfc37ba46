"""The recording benchmark runs and reports each figure against its own baseline call."""

from __future__ import annotations

import re

from benchmarks.recording import measure


def test_the_recording_benchmark_reports_every_figure() -> None:
    lines = measure(calls=3, recordings=3)
    assert [line.split(":")[0].strip() for line in lines] == [
        "JSON call", "recording it (capture, redact, append + flush)", "matching it among 3 recordings",
        "planning its replay", lines[4].split(":")[0], "recording it (capture, redact, append + flush)",
        "matching it among 3 recordings", "planning its replay"]
    assert re.match(r"stream \(\d+ events\)$", lines[4].split(":")[0]) and "(0 events)" not in lines[4]
    assert all(re.search(r"= \d+(\.\d)?%", line) for line in lines if not line.endswith("(baseline)"))
