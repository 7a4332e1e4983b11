-- certd schema, version 6: bounce tokens distinct from reply tokens, and a secret envelope id.
SELECT 1;

-- A request's return path (bounce+<bounce_token>@) is visible to its recipient, so it cannot
-- be the reply token, and it proves nothing by itself: a delivery report decides only when it
-- carries the destination's secret envid as Original-Envelope-Id (RFC 3461 ENVID, RFC 3464
-- section 2.2.1), which the MTAs keep out of the delivered message (docs/decisions.md).
ALTER TABLE destinations ADD COLUMN bounce_token TEXT;
ALTER TABLE destinations ADD COLUMN envid TEXT;
-- Existing destinations get fresh random values (128 bits from SQLite's CSPRNG, hex): their
-- in-flight requests' old bounce+<reply token>@ addresses stop being valid (their reports are
-- refused with 550 5.1.1; such contracts end NORESP instead of NOEX).
UPDATE destinations SET bounce_token = lower(hex(randomblob(16))), envid = lower(hex(randomblob(16)));
CREATE UNIQUE INDEX destinations_bounce_token ON destinations(bounce_token);
