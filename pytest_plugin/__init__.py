"""pytest plugin for humanloop-mock: fixtures to run, script, break and inspect the mock.

Registered through the `pytest11` entry point, so installing the package is enough. The exports
below load on first use, so a test session that never asks for the mock does not pay for it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_plugin.handle import HumanloopMock, MockRequestError
    from pytest_plugin.plugin import HumanloopMockWarning
    from pytest_plugin.transport import MockAsyncTransport, MockTransport

_EXPORTS = {
    "HumanloopMock": "pytest_plugin.handle",
    "MockRequestError": "pytest_plugin.handle",
    "HumanloopMockWarning": "pytest_plugin.plugin",
    "MockAsyncTransport": "pytest_plugin.transport",
    "MockTransport": "pytest_plugin.transport",
}
__all__ = ["HumanloopMock", "HumanloopMockWarning", "MockAsyncTransport", "MockRequestError", "MockTransport"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'pytest_plugin' has no attribute {name!r}")
