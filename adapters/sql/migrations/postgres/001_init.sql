-- portcullis 001_init for PostgreSQL.
-- The same statements migrate() runs (adapters/sql/migrations.ts), for teams that apply
-- migrations with their own tools. Tables use the default prefix "portcullis_": replace
-- it everywhere if you configure another tablePrefix. Every statement is idempotent.

CREATE TABLE IF NOT EXISTS portcullis_keys (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id text NOT NULL,
  project_id text NOT NULL,
  type text NOT NULL,
  mode text NOT NULL,
  name text NOT NULL,
  hash text NOT NULL,
  prefix text NOT NULL,
  last4 text NOT NULL,
  allowed_ips text NOT NULL,
  client_id text,
  created_at bigint NOT NULL,
  expires_at bigint,
  last_used_at bigint,
  rolled_to_id text,
  rolled_from_id text,
  sealed_secret text
);

CREATE UNIQUE INDEX IF NOT EXISTS portcullis_keys_id_key ON portcullis_keys (id);

CREATE UNIQUE INDEX IF NOT EXISTS portcullis_keys_hash_key ON portcullis_keys (hash);

CREATE INDEX IF NOT EXISTS portcullis_keys_project_idx ON portcullis_keys (project_id, seq);

CREATE INDEX IF NOT EXISTS portcullis_keys_expires_idx ON portcullis_keys (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE IF NOT EXISTS portcullis_sessions (
  id text PRIMARY KEY,
  project_id text NOT NULL,
  mode text NOT NULL,
  client_id text NOT NULL,
  created_at bigint NOT NULL,
  idle_timeout_ms bigint NOT NULL,
  expires_at bigint NOT NULL,
  max_expires_at bigint NOT NULL,
  revoked_at bigint
);

CREATE INDEX IF NOT EXISTS portcullis_sessions_client_idx ON portcullis_sessions (project_id, mode, client_id);

CREATE INDEX IF NOT EXISTS portcullis_sessions_expires_idx ON portcullis_sessions (expires_at);

CREATE TABLE IF NOT EXISTS portcullis_changes (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  payload text NOT NULL,
  created_at bigint NOT NULL
);

CREATE INDEX IF NOT EXISTS portcullis_changes_created_idx ON portcullis_changes (created_at);
