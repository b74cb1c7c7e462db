-- portcullis 001_init for MySQL / MariaDB.
-- The same statements migrate() runs (adapters/sql/migrations.ts), for teams that apply
-- migrations with their own tools. Tables use the default prefix "portcullis_": replace
-- it everywhere if you configure another tablePrefix. Every statement is idempotent.

CREATE TABLE IF NOT EXISTS portcullis_keys (
  seq BIGINT NOT NULL AUTO_INCREMENT,
  id VARBINARY(128) NOT NULL,
  project_id VARBINARY(128) NOT NULL,
  type VARCHAR(16) NOT NULL,
  mode VARCHAR(8) NOT NULL,
  name VARCHAR(255) NOT NULL,
  hash VARBINARY(128) NOT NULL,
  prefix VARCHAR(64) NOT NULL,
  last4 VARCHAR(16) NOT NULL,
  allowed_ips TEXT NOT NULL,
  client_id VARBINARY(1024) NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NULL,
  last_used_at BIGINT NULL,
  rolled_to_id VARBINARY(128) NULL,
  rolled_from_id VARBINARY(128) NULL,
  sealed_secret TEXT NULL,
  PRIMARY KEY (seq),
  UNIQUE KEY portcullis_keys_id_key (id),
  UNIQUE KEY portcullis_keys_hash_key (hash),
  KEY portcullis_keys_project_idx (project_id, seq),
  KEY portcullis_keys_expires_idx (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS portcullis_sessions (
  id VARBINARY(128) NOT NULL,
  project_id VARBINARY(128) NOT NULL,
  mode VARCHAR(8) NOT NULL,
  client_id VARBINARY(1024) NOT NULL,
  created_at BIGINT NOT NULL,
  idle_timeout_ms BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  max_expires_at BIGINT NOT NULL,
  revoked_at BIGINT NULL,
  PRIMARY KEY (id),
  KEY portcullis_sessions_client_idx (project_id, mode, client_id),
  KEY portcullis_sessions_expires_idx (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS portcullis_changes (
  seq BIGINT NOT NULL AUTO_INCREMENT,
  payload TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (seq),
  KEY portcullis_changes_created_idx (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
