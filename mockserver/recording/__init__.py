"""Recording and replaying exchanges: the cassette format, keys kept out, matching, timing, import.

Self-contained (of the rest of `mockserver` it imports only `provider_keys`, the redaction the journal
and the access log share), so the server's proxy, `--record` and `--replay` call it as plain functions:

- `ExchangeCapture` (or `build_exchange`) makes a redacted `Exchange`; `CassetteWriter` appends it to
  a cassette on disk without ever losing one on a clean shutdown;
- `load_cassette` reads a cassette back (clear `CassetteError`s), `Replayer` picks the recording that
  answers a request (`Hit`) or says why none does (`Miss`, a 404 body naming the nearest ones);
- `replay_plan` turns a recording into status, headers and timed sends at a replay speed;
- `import_file` converts vcrpy cassettes and HAR files. docs/recording.md describes it all.
"""

from mockserver.recording.capture import ExchangeCapture, build_exchange
from mockserver.recording.events import split_events
from mockserver.recording.har import Cassette, Exchange, new_cassette
from mockserver.recording.importers import import_file
from mockserver.recording.matching import DEFAULT_IGNORE, Hit, MatchRules, Miss, Replayer
from mockserver.recording.pacing import ReplayPlan, check_speed, replay_plan
from mockserver.recording.redact import PLACEHOLDER, redact_exchange
from mockserver.recording.store import CassetteError, CassetteWriter, load_cassette, save_cassette

__all__ = [
    "DEFAULT_IGNORE",
    "PLACEHOLDER",
    "Cassette",
    "CassetteError",
    "CassetteWriter",
    "Exchange",
    "ExchangeCapture",
    "Hit",
    "MatchRules",
    "Miss",
    "ReplayPlan",
    "Replayer",
    "build_exchange",
    "check_speed",
    "import_file",
    "load_cassette",
    "new_cassette",
    "redact_exchange",
    "replay_plan",
    "save_cassette",
    "split_events",
]
