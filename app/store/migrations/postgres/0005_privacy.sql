-- Idempotency keys belong to the client that sent them: the same request_id from two clients is
-- two requests. Replays stored before belonged to no client and become the loopback client's
-- (`local`) until the purge drops them.
ALTER TABLE idempotency ADD COLUMN client TEXT NOT NULL DEFAULT 'local';
ALTER TABLE idempotency DROP CONSTRAINT idempotency_pkey;
ALTER TABLE idempotency ADD PRIMARY KEY (request_id, client);
ALTER TABLE idempotency ALTER COLUMN client DROP DEFAULT;
CREATE INDEX IF NOT EXISTS idempotency_created ON idempotency (created_at);
-- What the purge and erasures deleted: when, by whom, what (counts per table), never the data.
CREATE TABLE IF NOT EXISTS deletions (
  deletion_id TEXT PRIMARY KEY, at DOUBLE PRECISION NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
  scope TEXT NOT NULL, deleted TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS deletions_at ON deletions (at);
