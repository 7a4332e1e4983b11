-- certd schema, version 9: several nodes (the same columns exist on PostgreSQL).
-- The node that appended each event (config node_id): operational metadata beside the
-- evidence, outside the hash chain, so chains written before version 9 still verify.
ALTER TABLE events ADD COLUMN node TEXT;
-- The node holding an outbox row's lease: a node that starts again releases its own leases
-- (its previous run died holding them), never another node's.
ALTER TABLE outbox ADD COLUMN leased_by TEXT;
-- Counts `certd status` reads instead of counting a million rows ("contracts:<state>",
-- "certificates"), kept by triggers in the transaction that changes the rows. Derived data:
-- `store copy` does not copy it, the target's triggers count again.
CREATE TABLE counts (
    name TEXT PRIMARY KEY,
    n    INTEGER NOT NULL
);
INSERT INTO counts (name, n) SELECT 'contracts:' || state, COUNT(*) FROM contracts GROUP BY state;
INSERT INTO counts (name, n) SELECT 'certificates', COUNT(*) FROM certificates;
CREATE TRIGGER contracts_count_insert AFTER INSERT ON contracts
BEGIN
    INSERT INTO counts (name, n) VALUES ('contracts:' || NEW.state, 1)
    ON CONFLICT (name) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER contracts_count_update AFTER UPDATE OF state ON contracts
WHEN OLD.state <> NEW.state
BEGIN
    UPDATE counts SET n = n - 1 WHERE name = 'contracts:' || OLD.state;
    INSERT INTO counts (name, n) VALUES ('contracts:' || NEW.state, 1)
    ON CONFLICT (name) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER certificates_count_insert AFTER INSERT ON certificates
BEGIN
    INSERT INTO counts (name, n) VALUES ('certificates', 1)
    ON CONFLICT (name) DO UPDATE SET n = n + 1;
END;
-- Periodic jobs (the daily renewal of archive time-stamps) claimed by one node per period.
CREATE TABLE timers (
    name   TEXT PRIMARY KEY,
    due_at INTEGER NOT NULL            -- Unix seconds of the next run
);
