"""`RecordedRequest`: one journal entry as the fixture hands it out (a read-only snapshot)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RecordedRequest:
    """A request the mock received (credentials redacted) and what it answered. See docs/admin.md."""

    seq: int
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any
    body_text: str | None
    body_truncated: bool
    status: int | None
    content_type: str | None
    error: Any
    experiment_id: str | None
    project_id: str | None
    session_id: str | None
    samples: list[dict[str, Any]]
    call: int | None
    faults: tuple[str, ...]
    delays: list[float] | None
    feedback: list[dict[str, Any]]
    stream_events: list[str]
    response_body: Any
    completed: bool

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> RecordedRequest:
        values = {name: record.get(name) for name in cls.__dataclass_fields__ if name != "response_body"}
        values["faults"] = tuple(record.get("faults") or ())
        values["samples"] = list(record.get("samples") or [])
        values["stream_events"] = list(record.get("stream_events") or [])
        values["feedback"] = list(record.get("feedback") or [])
        return cls(response_body=record.get("response"), **values)

    def as_dict(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["response"] = data.pop("response_body")
        data["faults"] = list(self.faults)
        return data
