-- certd schema, version 8: renewed certificates (PAdES B-LTA archive time-stamps).
-- A renewal stores the longer file as the next version; no version's bytes ever change, and
-- the certificates row stays version 1, the file first issued and mailed.
CREATE TABLE certificate_versions (
    contract_id TEXT NOT NULL REFERENCES certificates(contract_id),
    version     INTEGER NOT NULL CHECK (version >= 2),
    created_at  TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    pdf         BLOB NOT NULL,
    PRIMARY KEY (contract_id, version)
);
-- Unix seconds at which the TSA certificate of the newest time-stamp of the newest version
-- expires: the certificate must be renewed before. NULL: not known yet (issued before
-- version 8); the renewal reads the file and fills it in.
ALTER TABLE certificates ADD COLUMN renew_by INTEGER;
CREATE INDEX certificates_renew_by ON certificates(renew_by);
