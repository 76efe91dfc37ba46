"""`serve --upstream https://...` with `--upstream-ca-bundle`: an upstream whose certificate a private CA
signed is trusted with that CA's bundle only; without it, the answer is a 502 naming the certificate; a
bundle that holds no certificate stops `serve` with one line."""

from __future__ import annotations

import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import trustme
import uvicorn

from mockserver import MockSettings, create_app
from mockserver.http.server import LOOPBACK, bind_socket
from tests.conftest import chat_body
from tests.proxy.test_serve_proxy import HEADERS, proxy_to


@contextmanager
def https_upstream(ca: trustme.CA) -> Iterator[str]:
    """The mock itself, served over TLS on a loopback port with a certificate `ca` signed for 127.0.0.1."""
    cert = ca.issue_cert(LOOPBACK)
    with cert.private_key_and_cert_chain_pem.tempfile() as chain:
        sock = bind_socket(LOOPBACK, 0)
        config = uvicorn.Config(create_app(MockSettings(seed=7)), log_level="warning", lifespan="off",
                                ssl_certfile=chain, ssl_keyfile=chain)
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.005)
        try:
            assert server.started, "the TLS upstream did not start"
            yield f"https://{LOOPBACK}:{sock.getsockname()[1]}/v4"
        finally:
            server.should_exit = True
            thread.join(5)


def test_an_upstream_signed_by_a_private_ca_is_trusted_with_its_bundle_only(tmp_path: Path) -> None:
    ca = trustme.CA()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    with https_upstream(ca) as upstream:
        direct = httpx.post(f"{upstream}/chat-experiment", headers=HEADERS, json=chat_body(),
                            verify=ssl.create_default_context(cafile=str(bundle)))
        with proxy_to(upstream, upstream_ca_bundle=str(bundle)) as (url, app):
            trusted = httpx.post(f"{url}/chat-experiment", headers=HEADERS, json=chat_body())
            relayed = app.state.mock.journal.entries()[0]
        with proxy_to(upstream) as (url, _):  # certifi's bundle: this CA is nobody's
            untrusted = httpx.post(f"{url}/chat-experiment", headers=HEADERS, json=chat_body())
    assert direct.status_code == 200
    assert trusted.status_code == 200 and relayed.answered_by == f"upstream {upstream}" and relayed.completed
    assert trusted.json().keys() == direct.json().keys() and len(trusted.json()["data"]) == 1
    assert untrusted.status_code == 502 and "certificate" in untrusted.json()["detail"].lower()


def test_a_bundle_without_a_certificate_or_without_an_upstream_stops_serve_with_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty.pem"
    empty.write_text("not a certificate\n")
    cases = [(["--upstream", "https://127.0.0.1:9/v4", "--upstream-ca-bundle", str(empty)],
              "no CA certificate could be read"),
             (["--upstream-ca-bundle", str(empty)], "--upstream-ca-bundle is the CA of --upstream")]
    for flags, says in cases:
        done = subprocess.run([sys.executable, "-m", "mockserver.cli", "serve", "--port", "0", *flags],
                              cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert done.returncode in (1, 2) and says in done.stderr, done.stderr
        assert "Traceback" not in done.stderr and "serving Humanloop v4" not in done.stdout
