-- portcullis 003_key_client_restrictions for PostgreSQL.
-- The same statements migrate() runs (adapters/sql/migrations.ts), for teams that apply
-- migrations with their own tools. Tables use the default prefix "portcullis_": replace
-- it everywhere if you configure another tablePrefix. Every statement is idempotent.

ALTER TABLE portcullis_keys ADD COLUMN IF NOT EXISTS client_restrictions text;
