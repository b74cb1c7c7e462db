-- portcullis 003_key_client_restrictions for MySQL / MariaDB.
-- The same statements migrate() runs (adapters/sql/migrations.ts), for teams that apply
-- migrations with their own tools. Tables use the default prefix "portcullis_": replace
-- it everywhere if you configure another tablePrefix.
-- MySQL has no ADD COLUMN IF NOT EXISTS: run again after its ALTER TABLE succeeded, this
-- file fails with "Duplicate column name" (error 1060), which means the step is applied.

ALTER TABLE portcullis_keys ADD COLUMN client_restrictions TEXT NULL;
