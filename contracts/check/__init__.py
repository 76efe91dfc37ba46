"""`humanloop-mock check`: does a server (the mock or a real deployment) honour the contract?

One module per job: `scenarios` (the explicit requests), `lifecycle` (those that depend on
answers), `fuzz` (generated ones), `checks` (the named rules and their severities), `judge` (those
rules on one exchange seen anywhere), `transport` (budget, rate limit, deadline, bounded reads),
`session` (one run's state, and a target that stopped answering), `sdk` and `determinism`
(profiles), `coverage`, `hints` (the likely cause), `reduce` (minimal reproductions), `report`
(console, JSON, JUnit), `progress` (stderr while it runs), `replay` (`--replay`), `runner` (the
order of it all) and `command` (the CLI). Imports nothing from `mockserver` or `pytest_plugin`.
"""

from contracts.check.checks import CHECKS
from contracts.check.options import CheckOptions
from contracts.check.report import Outcome
from contracts.check.runner import run_check

__all__ = ["CHECKS", "CheckOptions", "Outcome", "run_check"]
