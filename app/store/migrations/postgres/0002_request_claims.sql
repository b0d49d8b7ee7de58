-- A request_id is claimed (pending, with an owner and a lease) before it is generated, then done.
ALTER TABLE idempotency ADD COLUMN state TEXT NOT NULL DEFAULT 'done';
ALTER TABLE idempotency ADD COLUMN owner TEXT;
ALTER TABLE idempotency ADD COLUMN lease_until DOUBLE PRECISION;
ALTER TABLE generations ADD COLUMN client TEXT;
CREATE INDEX IF NOT EXISTS generations_created ON generations (created_at);
