-- certd schema, version 5: indexes for admin queries at scale.
SELECT 1;

-- Admin queries (certd contracts list/show, certd status) on a large database.
-- `contracts list` shows the newest first (ORDER BY submitted_at DESC, serial DESC LIMIT n);
-- these let SQLite read the newest matching rows straight from an index, with no sort:
-- unfiltered and with --since/--until,
CREATE INDEX contracts_submitted_at ON contracts(submitted_at, serial);
-- with --state (v1's contracts_customer(customer_id, submitted_at) serves --customer),
CREATE INDEX contracts_state_submitted ON contracts(state, submitted_at, serial);
-- --destination matches addresses case-insensitively,
CREATE INDEX destinations_address_nocase ON destinations(address COLLATE NOCASE);
-- and `contracts show` lists the outbox rows of one contract.
CREATE INDEX outbox_contract ON outbox(contract_id);
-- v1's contracts_state(state) is a prefix of contracts_state_submitted: one index less to write.
DROP INDEX contracts_state;

-- The reply-token lookup of the lifecycle (contract id and address, case-insensitive; run for
-- every destination by Store::submit) was planned on destinations_address_nocase and walked
-- every contract ever sent to that address: linear in that address's contracts (0.25 ms a
-- cold lookup at 55 contracts per address, 0.012 ms with this index; docs/performance.md).
CREATE INDEX destinations_contract_address ON destinations(contract_id, address COLLATE NOCASE);
-- `contracts list --customer X --state Y` (218 ms at 1 M contracts without it).
CREATE INDEX contracts_customer_state ON contracts(customer_id, state, serial);
