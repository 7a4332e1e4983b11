-- certd schema, version 9: several nodes (the same columns exist on PostgreSQL).
-- The node that appended each event (config node_id): operational metadata beside the
-- evidence, outside the hash chain, so chains written before version 9 still verify.
ALTER TABLE events ADD COLUMN node TEXT;
-- The node holding an outbox row's lease: a node that starts again releases its own leases
-- (its previous run died holding them), never another node's.
ALTER TABLE outbox ADD COLUMN leased_by TEXT;
-- Periodic jobs (the daily renewal of archive time-stamps) claimed by one node per period.
CREATE TABLE timers (
    name   TEXT PRIMARY KEY,
    due_at INTEGER NOT NULL            -- Unix seconds of the next run
);
