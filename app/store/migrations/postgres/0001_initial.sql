CREATE TABLE IF NOT EXISTS generations (
  generation_id TEXT PRIMARY KEY, request_id TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL,
  status TEXT NOT NULL, record TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS generations_request ON generations (request_id);
CREATE TABLE IF NOT EXISTS idempotency (
  request_id TEXT PRIMARY KEY, body_hash TEXT NOT NULL,
  response TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL);
