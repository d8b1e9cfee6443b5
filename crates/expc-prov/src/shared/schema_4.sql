-- Schema version 4 (as the SQLite store's `schema_4.sql`): this store never had the
-- index that version drops; nothing changes but the version.
SELECT 1;
