"""The embedded default started the way the README does, in a temporary folder on a free port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def embedded_env(var_dir: Path) -> dict[str, str]:
    """The environment with nothing FDE-specific set: SQLite, table-backed features, eager Celery."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"}}
    env.update({"FDE_VAR_DIR": str(var_dir), "DJANGO_SETTINGS_MODULE": "fde_site.settings.local"})
    return env


def test_demo_runs_twice_and_serves_decisions_over_http(tmp_path):
    env = embedded_env(tmp_path)
    demo = [sys.executable, "manage.py", "demo", "--transactions", "60", "--train-customers", "600"]
    first = subprocess.run(demo, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "Demo ready" in first.stdout
    assert (tmp_path / "fde.sqlite3").exists()
    credentials = json.loads((tmp_path / "demo-credentials.json").read_text())
    assert credentials["token"] in first.stdout

    port = free_port()
    server = subprocess.Popen(
        [*demo, "--serve", "--port", str(port), "--workers", "1"], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        body = _post_when_up(port, credentials["token"])
        assert body["decision"] in {"approve", "decline", "review", "challenge"}
        assert body["audit_trail_id"].startswith("aud_")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=10) as page:
            assert b"Sign in to FDE" in page.read()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        output = server.communicate(timeout=30)[0].decode(errors="replace")
    assert output.count("Demo ready") == 1, output[-3000:]
    # the re-run reused the users and the client: the same token still works and was printed again
    assert credentials["token"] in output
    assert "decided on an earlier run    60" in output  # no duplicate decisions on the re-run


def _post_when_up(port: int, token: str) -> dict:
    body = json.dumps({
        "request_id": "smoke-1", "transaction_id": "t-smoke-1", "customer_id": "C000001",
        "amount": "42.50", "merchant_id": "M00001", "mcc": "5411",
    }).encode()  # fmt: skip
    deadline = time.monotonic() + 300
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/transactions", data=body, method="POST",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read())
        except OSError as error:
            last_error = error
            time.sleep(1)
    raise AssertionError(f"server did not answer within 300 s: {last_error}")
