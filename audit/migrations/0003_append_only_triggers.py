"""Database triggers that make the audit tables append-only for the application role.

PostgreSQL
    ``audit_refuse_change()`` refuses UPDATE, DELETE and TRUNCATE on ``audit_auditevent`` and
    ``audit_auditcheckpoint``. Two narrow exceptions, both documented in ``audit/purge.py``:

    * DELETE of an event is let through only inside the retention purge's own transaction:
      ``purge_audit`` sets the transaction-local setting ``fde.audit_purge_before`` and the row
      must be older than it. If a role named ``fde_audit_purger`` exists, the session user must
      also be a member of it, so production can keep purging to a separate login.
    * TRUNCATE is let through in databases whose name starts with ``test_`` (Django's test
      databases, which the test runner empties with TRUNCATE between transactional tests),
      unless the session sets ``fde.audit_strict = 'on'`` (the tests of this very trigger do).

    A superuser or the table owner can still ``ALTER TABLE … DISABLE TRIGGER``; that is what the
    hash chain and exported chain heads are for.

SQLite (embedded default)
    BEFORE UPDATE / BEFORE DELETE triggers that abort. SQLite has no TRUNCATE and no roles; the
    purge drops and recreates the delete trigger inside its transaction.
"""

from django.db import migrations

PROTECTED_TABLES = ("audit_auditevent", "audit_auditcheckpoint")

PG_FUNCTION = r"""
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    purge_before text := current_setting('fde.audit_purge_before', true);
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        IF left(current_database(), 5) = 'test_' AND coalesce(current_setting('fde.audit_strict', true), '') <> 'on' THEN
            RETURN NULL;
        END IF;
    ELSIF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'audit_auditevent' AND coalesce(purge_before, '') <> '' THEN
        IF OLD.occurred_at < purge_before::timestamptz
           AND (to_regrole('fde_audit_purger') IS NULL OR pg_has_role(session_user, 'fde_audit_purger', 'MEMBER')) THEN
            RETURN OLD;
        END IF;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
        MESSAGE = 'audit trail is append-only: ' || TG_OP || ' on ' || TG_TABLE_NAME || ' refused';
END
$$;
"""


def pg_triggers_sql(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()",
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()",
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} FOR EACH STATEMENT "
        "EXECUTE FUNCTION audit_refuse_change()",
    ]


def sqlite_triggers_sql(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, 'audit trail is append-only: UPDATE on {table} refused'); END",
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, 'audit trail is append-only: DELETE on {table} refused'); END",
    ]


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        statements = [PG_FUNCTION] + [sql for table in PROTECTED_TABLES for sql in pg_triggers_sql(table)]
    elif vendor == "sqlite":
        statements = [sql for table in PROTECTED_TABLES for sql in sqlite_triggers_sql(table)]
    else:
        return
    for sql in statements:
        schema_editor.execute(sql, params=None)


def uninstall(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor not in ("postgresql", "sqlite"):
        return
    for table in PROTECTED_TABLES:
        for suffix in ("no_update", "no_delete", "no_truncate"):
            on_table = f" ON {table}" if vendor == "postgresql" else ""
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_{suffix}{on_table}", params=None)
    if vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS audit_refuse_change()", params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_chain_protection")]

    operations = [migrations.RunPython(install, uninstall)]
