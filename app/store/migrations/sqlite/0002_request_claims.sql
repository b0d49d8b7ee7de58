-- A request_id is claimed (pending, with an owner and a lease) before it is generated, then done.
-- Rows written before this migration were answers: state 'done'. Pending rows hold response ''.
ALTER TABLE idempotency ADD COLUMN state TEXT NOT NULL DEFAULT 'done';
ALTER TABLE idempotency ADD COLUMN owner TEXT;
ALTER TABLE idempotency ADD COLUMN lease_until REAL;
ALTER TABLE generations ADD COLUMN client TEXT;
CREATE INDEX IF NOT EXISTS generations_created ON generations (created_at);
