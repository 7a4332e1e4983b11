-- certd schema, version 4: the SMS leg (requests, delivery reports, answers by SMS).

-- The short code a phone destination quotes in its answer; set when its request is queued.
ALTER TABLE destinations ADD COLUMN sms_code TEXT;
CREATE INDEX destinations_sms ON destinations(address, sms_code) WHERE sms_code IS NOT NULL;

-- Every SMS handed to the gateway, under our own reference: the gateway quotes it back in its
-- delivery reports (dlr-url), which is how reports find their contract.
CREATE TABLE sms_outbound (
    reference   TEXT PRIMARY KEY,
    contract_id TEXT NOT NULL REFERENCES contracts(id),
    destination TEXT NOT NULL,
    purpose     TEXT NOT NULL,       -- outbox kind: sms_request, sms_clarification, …
    created_at  TEXT NOT NULL
);

-- Delivery reports, once each (gateways retry their callbacks).
CREATE TABLE sms_reports (
    id           INTEGER PRIMARY KEY,
    reference    TEXT NOT NULL REFERENCES sms_outbound(reference),
    status       INTEGER NOT NULL,   -- Kannel DLR type: 1 delivered, 2 failed, 4 buffered, 8 SMSC ack, 16 SMSC reject
    smsc_id      TEXT NOT NULL DEFAULT '',
    gateway_time INTEGER,            -- Unix seconds, as the gateway reported it
    answer       TEXT,
    received_at  TEXT NOT NULL,
    UNIQUE (reference, status, smsc_id)
);

-- Every SMS that reached certd, matched to a contract or not: an answer from a wrong number
-- or with a wrong code is evidence of an attempt, never of an answer.
CREATE TABLE sms_inbound (
    id           INTEGER PRIMARY KEY,
    dedupe_key   TEXT NOT NULL UNIQUE,
    received_at  TEXT NOT NULL,
    sender       TEXT NOT NULL,
    receiver     TEXT,
    text         TEXT NOT NULL,
    gateway_id   TEXT,
    gateway_time TEXT,
    contract_id  TEXT REFERENCES contracts(id),
    outcome      TEXT NOT NULL       -- matched, unknown_sender, no_code, wrong_code
);
CREATE INDEX sms_inbound_sender ON sms_inbound(sender);
