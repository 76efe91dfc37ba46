"""The control service (`MockControl`): everything that can be done to a running mock, and its doors."""

from mockserver.control.reports import describe
from mockserver.control.service import ControlError, MockControl

__all__ = ["ControlError", "MockControl", "describe"]
