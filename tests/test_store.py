"""The store on both backends: migrations with a version table, and request claims (pending → done,
a lease that a dead owner's successor takes over), on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import time

import pytest

from app.store.audit import AuditLog
from app.store.claims import RequestClaims
from app.store.database import open_database
from app.store.migrations import current_version, migrations, upgrade


@pytest.fixture(params=["sqlite", "postgres"])
def db(request, tmp_path):
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    database = open_database(url, tmp_path, upgrade=False)
    yield database
    database.close()


def test_upgrade_applies_every_migration_once_and_records_it(db):
    assert current_version(db) == 0
    applied = upgrade(db)
    versions = [m.version for m in migrations(db.dialect)]
    assert [m.version for m in applied] == versions
    assert current_version(db) == max(versions)
    assert upgrade(db) == []  # already up to date
    rows = db.fetchall("SELECT version, name FROM schema_version ORDER BY version")
    assert rows[0] == (1, "initial") and len(rows) == len(versions)


def test_a_lower_number_that_lands_later_is_still_applied(db, monkeypatch):
    """Numbers are reserved per issue: a lower one may land after a higher one was applied."""
    import app.store.migrations as m

    every = m.migrations(db.dialect)
    # The library, and 0006 that indexes its tables: no other migration needs them.
    later = [x for x in every if x.version not in (4, 6)]
    monkeypatch.setattr(m, "migrations", lambda dialect: later)
    assert [x.version for x in upgrade(db)] == [x.version for x in later]
    monkeypatch.setattr(m, "migrations", lambda dialect: every)
    assert [x.version for x in upgrade(db)] == [4, 6]


def test_both_dialects_have_the_same_versions():
    names = {d: [(m.version, m.name) for m in migrations(d)] for d in ("sqlite", "postgres")}
    assert names["sqlite"] == names["postgres"]


def test_a_pre_migration_sqlite_file_is_upgraded_in_place(tmp_path):
    import sqlite3

    old = sqlite3.connect(tmp_path / "copydesk.db")  # what copydesk wrote before migrations
    old.execute(
        "CREATE TABLE idempotency (request_id TEXT PRIMARY KEY, body_hash TEXT NOT NULL,"
        " response TEXT NOT NULL, created_at REAL NOT NULL)"
    )
    old.execute("INSERT INTO idempotency VALUES ('r1', 'h1', '{\"a\": 1}', ?)", (time.time(),))
    old.commit()
    old.close()
    db = open_database(None, tmp_path)
    claim = RequestClaims(db).claim("r1", "h1", client="local")  # the loopback client's now
    assert claim.outcome == "done" and claim.response == {"a": 1}
    db.close()


def test_a_claim_is_held_then_answered(db):
    upgrade(db)
    claims = RequestClaims(db, lease_s=5)
    first = claims.claim("r1", "h1", client="a")
    assert first.outcome == "claimed"
    assert claims.claim("r1", "h1", client="a").outcome == "busy"
    assert claims.claim("r1", "other", client="a").outcome == "conflict"
    assert claims.renew("r1", first.owner)
    assert claims.complete("r1", first.owner, {"answer": 42})
    done = claims.claim("r1", "h1", client="a")
    assert done.outcome == "done" and done.response == {"answer": 42}


def test_a_dead_owners_claim_is_taken_over_after_its_lease(db):
    upgrade(db)
    claims = RequestClaims(db, lease_s=0.3)
    dead = claims.claim("r1", "h1", client="a")
    busy = claims.claim("r1", "h1", client="a")
    assert busy.outcome == "busy" and busy.lease_until > time.time()
    time.sleep(0.4)
    taken = claims.claim("r1", "h1", client="a")
    assert taken.outcome == "claimed" and taken.owner != dead.owner
    assert not claims.complete("r1", dead.owner, {"late": True})  # the old owner lost it
    assert not claims.renew("r1", dead.owner)
    assert claims.complete("r1", taken.owner, {"answer": 1})
    assert claims.claim("r1", "h1", client="a").response == {"answer": 1}


def test_a_released_claim_lets_the_next_retry_generate(db):
    upgrade(db)
    claims = RequestClaims(db)
    first = claims.claim("r1", "h1", client="a")
    claims.release("r1", first.owner)
    assert claims.claim("r1", "h1", client="a").outcome == "claimed"


def test_audit_records_round_trip(db):
    upgrade(db)
    audit = AuditLog(db)
    audit.record("gen_1", "r1", "ok", {"generation_id": "gen_1", "text": "张伟"})
    audit.record("gen_1", "r1", "ok", {"generation_id": "gen_1", "text": "again"})  # same id: replaced
    assert audit.get("gen_1") == {"generation_id": "gen_1", "text": "again"}
    assert len(audit.for_request("r1")) == 1
    assert audit.get("nope") is None


def test_db_upgrade_command_on_postgres(postgres_url, tmp_path):
    import os
    import subprocess
    import sys

    from app.config import REPO_ROOT

    env = {**os.environ, "COPYDESK_DATABASE_URL": postgres_url, "PYTHONPATH": str(REPO_ROOT)}
    run = [sys.executable, "-m", "app", "db", "upgrade"]
    first = subprocess.run(run, env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    latest = f"schema version {max(m.version for m in migrations('postgres'))}"
    assert "applied 0001 initial" in first.stdout and latest in first.stdout
    again = subprocess.run(run, env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert "applied" not in again.stdout and latest in again.stdout


def test_random_ids_differ_and_differ_again_in_a_forked_child():
    """Ids come from a per-process generator: a forked worker must not repeat its parent's."""
    import os

    from app.store.ids import random_hex

    ids = {random_hex(20) for _ in range(10_000)}
    assert len(ids) == 10_000 and all(len(i) == 20 for i in ids)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: write the id it draws next, then leave at once
        os.write(write, random_hex(20).encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    assert child != random_hex(20) and len(child) == 20
