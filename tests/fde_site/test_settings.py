"""Settings from the environment: the embedded default, and production refusing to start unsafely."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import django, json; django.setup(); from django.conf import settings;"
    "from decisioning.features.store import build_store;"
    "db = settings.DATABASES['default'];"
    "print(json.dumps({'db': db['ENGINE'], 'name': str(db['NAME']), 'store': build_store().name,"
    " 'eager': settings.CELERY_TASK_ALWAYS_EAGER, 'debug': settings.DEBUG}))"
)


def run(settings_module: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL",
                                                             "DJANGO_SECRET_KEY"}}  # fmt: skip
    clean.update({"DJANGO_SETTINGS_MODULE": settings_module, "FDE_VAR_DIR": str(tmp_path), **env})
    return subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60, check=False
    )


def test_nothing_set_gives_the_embedded_default(tmp_path):
    out = run("fde_site.settings.local", tmp_path)
    assert out.returncode == 0, out.stderr
    probe = json.loads(out.stdout)
    assert probe == {
        "db": "django.db.backends.sqlite3",
        "name": str(tmp_path / "fde.sqlite3"),
        "store": "database",
        "eager": True,
        "debug": False,
    }
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0  # generated, private


def test_environment_selects_postgres_redis_and_a_broker(tmp_path):
    out = run(
        "fde_site.settings.local", tmp_path,
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/fde", REDIS_URL="redis://127.0.0.1:6379/9",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/8",
    )  # fmt: skip
    probe = json.loads(out.stdout)
    assert (probe["db"], probe["store"], probe["eager"]) == ("django.db.backends.postgresql", "redis", False)


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    out = run("fde_site.settings.production", tmp_path)
    assert out.returncode != 0
    assert "DJANGO_SECRET_KEY must be set in production" in out.stderr
    assert not (tmp_path / "secret_key").exists()
    started = run("fde_site.settings.production", tmp_path, DJANGO_SECRET_KEY="x" * 50)
    assert started.returncode == 0, started.stderr


def _deploy_check(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    # (the browser tests' DJANGO_ALLOW_ASYNC_UNSAFE must not leak into a deployment check)
    dropped = {"DJANGO_SECRET_KEY", "REDIS_URL", "CELERY_BROKER_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    clean = {k: v for k, v in os.environ.items() if k not in dropped}
    clean.update(
        {
            "DJANGO_SETTINGS_MODULE": "fde_site.settings.production",
            "DJANGO_SECRET_KEY": "a-long-random-production-secret-" + "x9Q2" * 10,
            "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/fde",
            "FDE_VAR_DIR": str(tmp_path),
            **env,
        }
    )
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_production_settings_pass_djangos_deploy_checks(tmp_path):
    # Out of the box only the two HSTS choices that belong to the domain's owner remain
    out = _deploy_check(tmp_path)
    found = {line.split(")")[0].split("(")[-1] for line in out.stderr.splitlines() if line.startswith("?: (")}
    assert found == {"security.W005", "security.W021"}, out.stderr
    # and with them made, `check --deploy` is clean
    clean = _deploy_check(tmp_path, FDE_HSTS_INCLUDE_SUBDOMAINS="true", FDE_HSTS_PRELOAD="true")
    assert clean.returncode == 0, clean.stderr
