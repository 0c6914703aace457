"""Fixtures for the asynchronous layers: a real Redis broker, real Celery workers, a real receiver.

The broker is a Redis database reserved for this test run (number and key prefix derived from
the process id, so parallel runs never share queues). Workers are real ``celery worker``
subprocesses pointed at the same PostgreSQL test database (``transactional_db``: they must see
committed rows). Every wait is bounded.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis

ROOT = Path(__file__).resolve().parents[3]
CELERY = str(ROOT / ".venv" / "bin" / "celery")
RUN = os.getpid()
BROKER_DB = 13 + RUN % 3  # test runs use 2..12 for features; 13..15 are broker-only
KEYPREFIX = f"fde-test-{RUN}:"


def wait_for(predicate: Callable[[], Any], *, timeout: float, interval: float = 0.2, what: str = "") -> Any:
    """Poll until ``predicate()`` is truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")


# --------------------------------------------------------------------------- broker and producer


def _point_app_at(broker_url: str | None) -> None:
    """Make this process publish to ``broker_url`` (None: back to eager, the embedded default)."""
    from kombu import pools

    from fde_site.celery import app

    pools.reset()  # kombu's global connection/producer pools are keyed by connection
    app._pool = None
    app.amqp._producer_pool = None
    options = {"visibility_timeout": 3600, "global_keyprefix": KEYPREFIX}
    if broker_url is None:
        app.conf.update(task_always_eager=True, broker_url=None)
    else:
        app.conf.update(task_always_eager=False, broker_url=broker_url, broker_transport_options=options)


@contextmanager
def producer(broker_url: str) -> Iterator[None]:
    _point_app_at(broker_url)
    try:
        yield
    finally:
        _point_app_at(None)


@pytest.fixture
def broker_url() -> Iterator[str]:
    """The shared Redis on 6379, database reserved for this run's broker; emptied of our keys."""
    url = f"redis://127.0.0.1:6379/{BROKER_DB}"
    client = redis.Redis.from_url(url)
    _delete_prefixed(client)
    with producer(url):
        yield url
    _delete_prefixed(client)
    client.close()


def _delete_prefixed(client: redis.Redis) -> None:
    keys = list(client.scan_iter(match=f"{KEYPREFIX}*", count=1000))
    if keys:
        client.delete(*keys)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A private redis-server on a free port (for the broker-outage test; never the shared 6379)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        wait_for(lambda: _pings(client), timeout=10, what="private redis-server")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()


# --------------------------------------------------------------------------- workers


@dataclass
class Worker:
    """One ``celery worker`` subprocess in its own process group (so SIGKILL takes its children too)."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_ready(self, timeout: float = 60) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited with {self.process.returncode}:\n{self.log()[-3000:]}")
            return " ready." in self.log()

        wait_for(ready, timeout=timeout, what="celery worker ready")

    def kill(self) -> None:
        """SIGKILL the worker and its pool children at once (no warm shutdown, nothing acknowledged)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


def _database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@dataclass
class WorkerFactory:
    broker_url: str
    tmp_path: Path
    workers: list[Worker] = field(default_factory=list)

    def start(
        self, *, queues: str = "features,decisions,execution,outbox", concurrency: int = 2, beat: bool = False,
        broker_url: str | None = None, env: dict[str, str] | None = None, wait: bool = True,
    ) -> Worker:  # fmt: skip
        from django.conf import settings

        index = len(self.workers)
        log_path = self.tmp_path / f"worker-{index}.log"
        environment = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "fde_site.settings.local",
            "DATABASE_URL": _database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "CELERY_BROKER_URL": broker_url or self.broker_url,
            "FDE_CELERY_KEYPREFIX": KEYPREFIX,
            "FDE_LOG_LEVEL": "INFO",
            **(env or {}),
        }
        command = [
            CELERY, "-A", "fde_site", "worker", "-Q", queues, "-c", str(concurrency), "--pool", "prefork",
            "-n", f"fde-test-{RUN}-{index}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat",
            "--loglevel", "INFO",
        ]  # fmt: skip
        if beat:
            command += ["-B", "-s", str(self.tmp_path / f"beat-{index}")]
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        worker = Worker(process, log_path)
        self.workers.append(worker)
        if wait:
            worker.wait_ready()
        return worker

    def stop_all(self) -> None:
        for worker in self.workers:
            worker.stop()


@pytest.fixture
def workers(transactional_db: None, broker_url: str, tmp_path: Path) -> Iterator[WorkerFactory]:
    factory = WorkerFactory(broker_url=broker_url, tmp_path=tmp_path)
    yield factory
    factory.stop_all()
    from django.db import connections

    connections.close_all()


# --------------------------------------------------------------------------- the callback receiver


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """A real HTTP server on 127.0.0.1 standing in for a client's callback endpoint or the gateway."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.status_code = 200
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.requests.append(
                        Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.monotonic())
                    )
                    code = receiver.status_code
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/fde-callback"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()
