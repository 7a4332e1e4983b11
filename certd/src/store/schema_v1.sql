-- certd schema, version 1. See docs/schema.md for the meaning of every column.

CREATE TABLE customers (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,          -- local part of <name>@<contract domain>
    email         TEXT NOT NULL,                 -- where receipts and certificates go
    display_name  TEXT,
    active        INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    policy        TEXT NOT NULL CHECK (policy IN ('smtp-auth', 'dkim', 'any')),
    language      TEXT NOT NULL DEFAULT 'en',
    deadline_secs INTEGER NOT NULL DEFAULT 172800 CHECK (deadline_secs > 0),
    created_at    TEXT NOT NULL
);

CREATE TABLE customer_logins (
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    login       TEXT NOT NULL,
    PRIMARY KEY (customer_id, login)
);

CREATE TABLE customer_dkim_domains (
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    domain      TEXT NOT NULL,
    PRIMARY KEY (customer_id, domain)
);

-- Raw messages, content-addressed so that a retried message never doubles the bytes.
CREATE TABLE blobs (
    sha256 TEXT PRIMARY KEY,
    data   BLOB NOT NULL
);

CREATE TABLE contracts (
    id            TEXT PRIMARY KEY,              -- 128 random bits, base32
    serial        INTEGER NOT NULL UNIQUE,       -- gap-free, assigned at commit
    customer_id   INTEGER NOT NULL REFERENCES customers(id),
    state         TEXT NOT NULL,
    submitted_at  TEXT NOT NULL,                 -- RFC 3339, UTC
    recipient     TEXT NOT NULL,
    envelope_from TEXT NOT NULL,
    from_header   TEXT,
    message_id    TEXT,
    subject       TEXT NOT NULL,
    subject_text  TEXT NOT NULL,
    body_text     TEXT NOT NULL,
    auth_method   TEXT NOT NULL,                 -- 'smtp-auth' or 'dkim'
    auth_identity TEXT NOT NULL,                 -- SASL login, or DKIM d=/s=
    queue_id      TEXT,
    client_addr   TEXT,
    client_name   TEXT,
    helo          TEXT,
    raw_sha256    TEXT NOT NULL REFERENCES blobs(sha256),
    raw_size      INTEGER NOT NULL,
    dedupe_key    TEXT NOT NULL UNIQUE
);
CREATE INDEX contracts_customer ON contracts(customer_id, submitted_at);
CREATE INDEX contracts_state ON contracts(state);

CREATE TABLE destinations (
    contract_id TEXT NOT NULL REFERENCES contracts(id),
    position    INTEGER NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('email', 'phone')),
    address     TEXT NOT NULL,
    PRIMARY KEY (contract_id, position)
);
CREATE INDEX destinations_address ON destinations(address);

CREATE TABLE attachments (
    contract_id  TEXT NOT NULL REFERENCES contracts(id),
    position     INTEGER NOT NULL,
    filename     TEXT,
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL,
    sha256       TEXT NOT NULL,
    PRIMARY KEY (contract_id, position)
);

-- The evidence log: append-only (enforced below), hash-chained per contract.
CREATE TABLE events (
    contract_id TEXT NOT NULL REFERENCES contracts(id),
    seq         INTEGER NOT NULL,
    at          TEXT NOT NULL,
    kind        TEXT NOT NULL,
    data        TEXT NOT NULL,                   -- JSON
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL,
    PRIMARY KEY (contract_id, seq)
);
CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;

-- Every side effect (mail, SMS, TSA request) is a row here, written in the same transaction
-- as the state change that causes it.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    contract_id     TEXT REFERENCES contracts(id),
    kind            TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    payload         TEXT NOT NULL,               -- JSON
    due_at          INTEGER NOT NULL,            -- Unix seconds
    attempts        INTEGER NOT NULL DEFAULT 0,
    leased_until    INTEGER,
    done_at         INTEGER,
    last_error      TEXT
);
CREATE INDEX outbox_pending ON outbox(due_at) WHERE done_at IS NULL;
