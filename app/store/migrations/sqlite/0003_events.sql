-- Outcomes of the variants (issue 20): each variant served, the events posted about it, counts per
-- arm kept up to date in the same transaction as the events, and the last weights served per context.
CREATE TABLE IF NOT EXISTS variants (
  variant_id TEXT PRIMARY KEY, generation_id TEXT NOT NULL, client TEXT NOT NULL,
  created_at REAL NOT NULL, journey TEXT NOT NULL, channel TEXT NOT NULL, locale TEXT NOT NULL,
  segment TEXT NOT NULL, arm TEXT NOT NULL, tone TEXT, prompt_version TEXT, model TEXT, source TEXT);
CREATE INDEX IF NOT EXISTS variants_generation ON variants (generation_id);
-- Idempotent by (client, event_id): two instances inserting the same event keep one.
CREATE TABLE IF NOT EXISTS events (
  client TEXT NOT NULL, event_id TEXT NOT NULL, variant_id TEXT NOT NULL, type TEXT NOT NULL,
  at REAL NOT NULL, value REAL, received_at REAL NOT NULL, PRIMARY KEY (client, event_id));
CREATE INDEX IF NOT EXISTS events_variant ON events (variant_id);
-- Counts per arm and context (segment '' when the request named none), and per day for 'since'
-- and the report's sends over time.
CREATE TABLE IF NOT EXISTS arm_counts (
  client TEXT NOT NULL, journey TEXT NOT NULL, channel TEXT NOT NULL, locale TEXT NOT NULL,
  segment TEXT NOT NULL, arm TEXT NOT NULL, type TEXT NOT NULL, n BIGINT NOT NULL, value REAL NOT NULL,
  PRIMARY KEY (client, journey, channel, locale, segment, arm, type));
CREATE TABLE IF NOT EXISTS arm_daily (
  client TEXT NOT NULL, journey TEXT NOT NULL, channel TEXT NOT NULL, locale TEXT NOT NULL,
  segment TEXT NOT NULL, arm TEXT NOT NULL, day TEXT NOT NULL, type TEXT NOT NULL, n BIGINT NOT NULL,
  value REAL NOT NULL, PRIMARY KEY (client, journey, channel, locale, segment, arm, day, type));
-- The weights last served per context and arm set (the step limit's reference), and their history.
CREATE TABLE IF NOT EXISTS allocations (
  client TEXT NOT NULL, context TEXT NOT NULL, arms TEXT NOT NULL, state TEXT NOT NULL,
  weights TEXT NOT NULL, updated_at REAL NOT NULL, PRIMARY KEY (client, context, arms));
CREATE TABLE IF NOT EXISTS allocation_log (
  client TEXT NOT NULL, context TEXT NOT NULL, at REAL NOT NULL, policy TEXT NOT NULL,
  weights TEXT NOT NULL, reason TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS allocation_log_context ON allocation_log (client, context, at);
