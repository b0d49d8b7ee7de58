-- Idempotency keys belong to the client that sent them: the same request_id from two clients is
-- two requests. SQLite cannot change a primary key, so the table is rebuilt; replays stored before
-- belonged to no client and become the loopback client's (`local`) until the purge drops them.
CREATE TABLE idempotency_by_client (
  client TEXT NOT NULL, request_id TEXT NOT NULL, body_hash TEXT NOT NULL,
  response TEXT NOT NULL, created_at REAL NOT NULL, state TEXT NOT NULL DEFAULT 'done',
  owner TEXT, lease_until REAL, PRIMARY KEY (request_id, client));
INSERT INTO idempotency_by_client
  SELECT 'local', request_id, body_hash, response, created_at, state, owner, lease_until FROM idempotency;
DROP TABLE idempotency;
ALTER TABLE idempotency_by_client RENAME TO idempotency;
CREATE INDEX IF NOT EXISTS idempotency_created ON idempotency (created_at);
-- What the purge and erasures deleted: when, by whom, what (counts per table), never the data.
CREATE TABLE IF NOT EXISTS deletions (
  deletion_id TEXT PRIMARY KEY, at REAL NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
  scope TEXT NOT NULL, deleted TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS deletions_at ON deletions (at);
