"""The mock server: a plain ASGI app that answers Humanloop's v4 chat-experiment API deterministically."""

from mockserver.app import create_app
from mockserver.settings import MockSettings

__all__ = ["MockSettings", "create_app"]
