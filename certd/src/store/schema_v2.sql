-- certd schema, version 2: the lifecycle (requests, answers, deadlines).

ALTER TABLE contracts ADD COLUMN deadline_at INTEGER;          -- Unix seconds, set when requested
CREATE INDEX contracts_deadline ON contracts(deadline_at) WHERE state = 'requested';

-- Each email destination gets its own reply token: 128 random bits, base32. Replies go to
-- reply+<token>@<domain>, delivery reports to bounce+<token>@<domain>.
ALTER TABLE destinations ADD COLUMN token TEXT;
ALTER TABLE destinations ADD COLUMN bounced_at TEXT;
CREATE UNIQUE INDEX destinations_token ON destinations(token);

-- Every answer (reply or delivery report) that reached certd, decisive or not.
CREATE TABLE answers (
    id           INTEGER PRIMARY KEY,
    contract_id  TEXT NOT NULL REFERENCES contracts(id),
    token        TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('reply', 'bounce')),
    received_at  TEXT NOT NULL,
    raw_sha256   TEXT NOT NULL REFERENCES blobs(sha256),
    dedupe_key   TEXT NOT NULL UNIQUE
);
CREATE INDEX answers_contract ON answers(contract_id);
