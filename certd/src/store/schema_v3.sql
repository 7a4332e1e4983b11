-- certd schema, version 3: issued certificates.

-- One signed certificate per contract, stored before any copy is mailed, so that a crash
-- after signing never signs (and timestamps) twice.
CREATE TABLE certificates (
    contract_id TEXT PRIMARY KEY REFERENCES contracts(id),
    issued_at   TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    chain_head  TEXT NOT NULL,
    pdf         BLOB NOT NULL
);
