"""`RecordedRequest`: one journal entry as the fixture hands it out (a read-only snapshot).

The same shape `/__admin/requests` answers with (`mockserver.control.models.JournalRecord`), in both
fixture modes.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict

from mockserver.control.models import JournalRecord


class RecordedRequest(JournalRecord):
    """A request the mock received (credentials redacted) and what it answered. See docs/admin.md."""

    model_config = ConfigDict(frozen=True)

    faults: tuple[str, ...]  # type: ignore[assignment]  # a tuple, so it compares with ("fault-1",)

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> RecordedRequest:
        return cls.model_validate(record)

    @property
    def response_body(self) -> Any:
        """The JSON response body (None for streams and empty bodies)."""
        return self.response

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
