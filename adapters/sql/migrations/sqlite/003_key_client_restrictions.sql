-- portcullis 003_key_client_restrictions for SQLite.
-- The same statements migrate() runs (adapters/sql/migrations.ts), for teams that apply
-- migrations with their own tools. Tables use the default prefix "portcullis_": replace
-- it everywhere if you configure another tablePrefix.
-- SQLite has no ADD COLUMN IF NOT EXISTS: run the file in one transaction, so that it
-- applies whole or not at all; run again after it committed, it fails with "duplicate
-- column name", which means the step is applied.

ALTER TABLE portcullis_keys ADD COLUMN client_restrictions TEXT;
