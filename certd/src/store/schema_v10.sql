-- certd schema, version 10: `certd status` and the metrics read the outbox without counting it.
-- Pending and failing effects per kind ("outbox:<kind>", "outbox-failing:<kind>") join the
-- trigger-kept counts of version 9. SQLite has one writer at a time, so its triggers update
-- `counts` directly; PostgreSQL's append to `count_deltas` instead (postgres_v10.sql), which
-- stays empty here and exists so that both backends read their counts with one query.
INSERT INTO counts (name, n)
SELECT 'outbox:' || kind, COUNT(*) FROM outbox WHERE done_at IS NULL GROUP BY kind;
INSERT INTO counts (name, n)
SELECT 'outbox-failing:' || kind, COUNT(*) FROM outbox
WHERE done_at IS NULL AND last_error IS NOT NULL GROUP BY kind;
CREATE TRIGGER outbox_count_insert AFTER INSERT ON outbox
WHEN NEW.done_at IS NULL
BEGIN
    INSERT INTO counts (name, n) VALUES ('outbox:' || NEW.kind, 1)
    ON CONFLICT (name) DO UPDATE SET n = n + 1;
    INSERT INTO counts (name, n)
    SELECT 'outbox-failing:' || NEW.kind, 1 WHERE NEW.last_error IS NOT NULL
    ON CONFLICT (name) DO UPDATE SET n = n + 1;
END;
-- A row counts as pending while done_at is NULL, as failing while also last_error is set; an
-- update adds the difference (the kind never changes; outbox rows are never deleted).
CREATE TRIGGER outbox_count_update AFTER UPDATE OF done_at, last_error ON outbox
BEGIN
    INSERT INTO counts (name, n)
    SELECT 'outbox:' || NEW.kind, (NEW.done_at IS NULL) - (OLD.done_at IS NULL)
    WHERE (NEW.done_at IS NULL) <> (OLD.done_at IS NULL)
    ON CONFLICT (name) DO UPDATE SET n = n + excluded.n;
    INSERT INTO counts (name, n)
    SELECT 'outbox-failing:' || NEW.kind,
           (NEW.done_at IS NULL AND NEW.last_error IS NOT NULL)
           - (OLD.done_at IS NULL AND OLD.last_error IS NOT NULL)
    WHERE (NEW.done_at IS NULL AND NEW.last_error IS NOT NULL)
          <> (OLD.done_at IS NULL AND OLD.last_error IS NOT NULL)
    ON CONFLICT (name) DO UPDATE SET n = n + excluded.n;
END;
CREATE TABLE count_deltas (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    n    INTEGER NOT NULL
);
-- The oldest pending effect of a kind, and how many are not yet due, without a scan.
CREATE INDEX outbox_pending_kind ON outbox(kind, due_at) WHERE done_at IS NULL;
-- The failing effects `certd status` lists (usually none: the index stays small).
CREATE INDEX outbox_failing ON outbox(attempts DESC, id)
WHERE done_at IS NULL AND last_error IS NOT NULL;
-- ... and those of one kind (the certificates blocked), which outbox_pending_kind would find
-- only by reading every pending effect of that kind.
CREATE INDEX outbox_failing_kind ON outbox(kind, id)
WHERE done_at IS NULL AND last_error IS NOT NULL;
