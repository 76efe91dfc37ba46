"""pytest plugin for humanloop-mock: fixtures to run, script, break and inspect the mock.

Registered through the `pytest11` entry point, so installing the package is enough.
"""

from pytest_plugin.handle import HumanloopMock, MockRequestError
from pytest_plugin.transport import MockAsyncTransport, MockTransport

__all__ = ["HumanloopMock", "MockAsyncTransport", "MockRequestError", "MockTransport"]
