"""Compiled regexes are memory too (review of issue 16, finding 3).

Before, every distinct pattern a tenant sent (a journal filter is a GET: no body, no share) was
compiled with 8 MiB for RE2 and kept, 1,024 of them, plus the 128 `re2.compile` keeps of its own:
a flood of filter patterns took a server with a 32 MiB budget from 63 to 946 MiB while
`/__admin/server` said 0.3 MB were used. Now each compiled pattern may use 512 KiB and only 16 stay
compiled, so the flood stays within the budget plus the documented overhead.
"""

from __future__ import annotations

import random
from urllib.parse import quote

import httpx

from tests.server.test_memory_budget import MIB, RSS_OVERHEAD, _served_growth

PATTERNS = 160  # more than the 128 `re2.compile` keeps of its own, ten times the 16 the mock keeps


def test_a_flood_of_distinct_journal_filter_patterns_stays_within_the_budget() -> None:
    text = "".join(random.Random(3).choice("ab") for _ in range(5000))

    def flood(client: httpx.Client, url: str) -> list[int]:
        root = url.removesuffix("/v4")
        headers = {"X-API-KEY": "hostile"}
        body = {"experiment_id": "exp_demo", "messages": [{"role": "user", "content": text}]}
        statuses = [client.post(f"{url}/chat-experiment", json=body, headers=headers).status_code]
        for n in range(PATTERNS):  # each one's DFA filled by a search that blows it (an NFA fallback)
            pattern = quote(f"(?:{n})?[ab]*a[ab]{{200}}\\pL{{3}}")
            listed = client.get(f"{root}/__admin/requests?message_regex={pattern}", headers=headers)
            statuses.append(listed.status_code)
            assert listed.status_code != 200 or listed.json()["total"] == 1
        return statuses

    grown, statuses, _ = _served_growth(32 * MIB, flood)
    assert statuses == [200] * (PATTERNS + 1)
    assert grown < 32 + RSS_OVERHEAD, f"RSS grew {grown:.0f} MiB"
    assert grown < 24, f"RSS grew {grown:.0f} MiB for {PATTERNS} patterns (16 kept, 512 KiB each)"
