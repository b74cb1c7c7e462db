-- portcullis 001_init for SQLite.
-- The same statements migrate() runs (adapters/sql/migrations.ts), for teams that apply
-- migrations with their own tools. Tables use the default prefix "portcullis_": replace
-- it everywhere if you configure another tablePrefix. Every statement is idempotent.

CREATE TABLE IF NOT EXISTS portcullis_keys (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL,
  project_id TEXT NOT NULL,
  type TEXT NOT NULL,
  mode TEXT NOT NULL,
  name TEXT NOT NULL,
  hash TEXT NOT NULL,
  prefix TEXT NOT NULL,
  last4 TEXT NOT NULL,
  allowed_ips TEXT NOT NULL,
  client_id TEXT,
  created_at INTEGER NOT NULL,
  expires_at INTEGER,
  last_used_at INTEGER,
  rolled_to_id TEXT,
  rolled_from_id TEXT,
  sealed_secret TEXT
);

CREATE UNIQUE INDEX IF NOT EXISTS portcullis_keys_id_key ON portcullis_keys (id);

CREATE UNIQUE INDEX IF NOT EXISTS portcullis_keys_hash_key ON portcullis_keys (hash);

CREATE INDEX IF NOT EXISTS portcullis_keys_project_idx ON portcullis_keys (project_id, seq);

CREATE INDEX IF NOT EXISTS portcullis_keys_expires_idx ON portcullis_keys (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE IF NOT EXISTS portcullis_sessions (
  id TEXT PRIMARY KEY NOT NULL,
  project_id TEXT NOT NULL,
  mode TEXT NOT NULL,
  client_id TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  idle_timeout_ms INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  max_expires_at INTEGER NOT NULL,
  revoked_at INTEGER
);

CREATE INDEX IF NOT EXISTS portcullis_sessions_client_idx ON portcullis_sessions (project_id, mode, client_id);

CREATE INDEX IF NOT EXISTS portcullis_sessions_expires_idx ON portcullis_sessions (expires_at);

CREATE TABLE IF NOT EXISTS portcullis_changes (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  payload TEXT NOT NULL,
  created_at INTEGER NOT NULL
);

CREATE INDEX IF NOT EXISTS portcullis_changes_created_idx ON portcullis_changes (created_at);
