-- The variant library (issue 21): every model-written variant that passed every check, kept as its
-- template with its context; reviewers' decisions, near-duplicate links and spot checks beside it.
CREATE TABLE IF NOT EXISTS library (
  library_id TEXT PRIMARY KEY, client TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL,
  status TEXT NOT NULL, context_key TEXT NOT NULL,
  journey TEXT NOT NULL, channel TEXT NOT NULL, locale TEXT NOT NULL, skus TEXT NOT NULL,
  offer_id TEXT, segment TEXT, tone TEXT NOT NULL,
  template TEXT NOT NULL, disclaimers TEXT NOT NULL, prompt_version TEXT NOT NULL, model TEXT NOT NULL,
  source TEXT NOT NULL, checks TEXT NOT NULL, snippets TEXT NOT NULL,
  generation_id TEXT, variant_id TEXT, parent_id TEXT,
  duplicates INTEGER NOT NULL DEFAULT 0, served INTEGER NOT NULL DEFAULT 0,
  approved_at DOUBLE PRECISION, decided_at DOUBLE PRECISION, decided_by TEXT, note TEXT,
  flagged_at DOUBLE PRECISION, flag_reason TEXT);
CREATE INDEX IF NOT EXISTS library_serving ON library (context_key, status);
CREATE INDEX IF NOT EXISTS library_queue ON library (status, created_at);
CREATE TABLE IF NOT EXISTS library_links (
  library_id TEXT NOT NULL, generation_id TEXT NOT NULL, variant_id TEXT NOT NULL,
  similarity DOUBLE PRECISION NOT NULL, template TEXT NOT NULL, client TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL);
CREATE INDEX IF NOT EXISTS library_links_entry ON library_links (library_id);
CREATE TABLE IF NOT EXISTS library_decisions (
  decision_id TEXT PRIMARY KEY, library_id TEXT NOT NULL, action TEXT NOT NULL,
  reviewer TEXT NOT NULL, note TEXT NOT NULL, client TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL,
  detail TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS library_decisions_entry ON library_decisions (library_id, created_at);
CREATE TABLE IF NOT EXISTS library_spot_checks (
  spot_id TEXT PRIMARY KEY, library_id TEXT NOT NULL, generation_id TEXT NOT NULL,
  variant_id TEXT NOT NULL, journey TEXT NOT NULL, client TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL,
  copy TEXT NOT NULL, status TEXT NOT NULL, reviewer TEXT, note TEXT, done_at DOUBLE PRECISION);
CREATE INDEX IF NOT EXISTS library_spot_checks_open ON library_spot_checks (status, created_at);
