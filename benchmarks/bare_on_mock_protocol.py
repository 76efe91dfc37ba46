"""The bare baseline served the way `humanloop-mock serve` serves: the same constant-JSON app, on the
mock's uvicorn protocol (one write per event-loop pass). Not the issue's baseline (that is the bare
app on stock uvicorn); it shows how much of the mock's ratio comes from its app code alone.

    python -m benchmarks.bare_on_mock_protocol PORT
"""

from __future__ import annotations

import sys

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from benchmarks.baseline_app import app
from mockserver.http.protocol import gathering

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False,
                http=gathering(HttpToolsProtocol))
