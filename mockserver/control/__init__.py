"""The control service (`MockControl`): everything that can be done to a running mock, and its doors."""

from mockserver.control.service import ControlError, MockControl, describe

__all__ = ["ControlError", "MockControl", "describe"]
