-- What the purge (by age) and erasures (by generation or variant) look rows up by, in the tables
-- of issues 20 and 21, so neither scans a whole table per batch or per erased request.
CREATE INDEX IF NOT EXISTS variants_created ON variants (created_at);
CREATE INDEX IF NOT EXISTS events_received ON events (received_at);
CREATE INDEX IF NOT EXISTS library_links_generation ON library_links (generation_id);
CREATE INDEX IF NOT EXISTS library_links_created ON library_links (created_at);
CREATE INDEX IF NOT EXISTS library_spot_checks_generation ON library_spot_checks (generation_id);
CREATE INDEX IF NOT EXISTS library_spot_checks_created ON library_spot_checks (created_at);
CREATE INDEX IF NOT EXISTS library_generation ON library (generation_id);
