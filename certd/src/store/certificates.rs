//! Issued certificates.

use super::contracts::append_event;
use super::outbox::{enqueue, Job};
use super::sql::{params, OptionalExtension};
use super::{ContractRow, Customer, EventRow, Store};
use crate::error::Error;
use crate::evidence::event::{CertificateIssued, CertificateRenewed};
use crate::evidence::{EventData, Instant};

/// Everything a certificate states about a contract, read in one transaction so that the
/// certificate shows one consistent moment of the evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub contract: ContractRow,
    pub customer: Customer,
    pub events: Vec<EventRow>,
    /// The customer's original message.
    pub raw: Option<Vec<u8>>,
    /// The stored answers (replies and delivery reports), by SHA-256.
    pub answers: Vec<(String, Vec<u8>)>,
    /// A certificate is stored already.
    pub issued: bool,
}

/// One version of a certificate: 1 is the file first issued, each renewal adds one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateVersion {
    pub version: u32,
    /// RFC 3339, when it was stored.
    pub stored_at: String,
    pub sha256: String,
    pub pdf: Vec<u8>,
}

impl Store {
    /// The snapshot of contract `id` (id or serial), or `None` if there is no such contract.
    pub fn snapshot(&self, id: &str) -> Result<Option<Snapshot>, Error> {
        self.consistent(|| self.snapshot_in(id))
    }

    fn snapshot_in(&self, id: &str) -> Result<Option<Snapshot>, Error> {
        let tx = self.conn();
        let Some(contract) = self.contract(id)? else {
            return Ok(None);
        };
        let cid = contract.summary.id.clone();
        let customer = self
            .customer(&contract.summary.customer)?
            .ok_or_else(|| Error::NotFound(format!("no customer {}", contract.summary.customer)))?;
        let events = self.events(&cid)?;
        let raw = self.raw_message(&cid)?;
        let mut stmt = tx.prepare(
            "SELECT b.sha256, b.data FROM answers a JOIN blobs b ON b.sha256 = a.raw_sha256
             WHERE a.contract_id = ?1 ORDER BY a.id",
        )?;
        let answers = stmt
            .query_map([&cid], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        drop(stmt);
        let issued = self.certificate(&cid)?.is_some();
        Ok(Some(Snapshot {
            contract,
            customer,
            events,
            raw,
            answers,
            issued,
        }))
    }

    /// A stored blob (raw message) by its SHA-256.
    pub fn blob(&self, sha256: &str) -> Result<Option<Vec<u8>>, Error> {
        Ok(self
            .conn()
            .query_row("SELECT data FROM blobs WHERE sha256 = ?1", [sha256], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// The signed certificate of a contract, if issued: its newest version.
    pub fn certificate(&self, contract_id: &str) -> Result<Option<Vec<u8>>, Error> {
        let renewed: Option<Vec<u8>> = self
            .conn()
            .query_row(
                "SELECT pdf FROM certificate_versions WHERE contract_id = ?1
                 ORDER BY version DESC LIMIT 1",
                [contract_id],
                |r| r.get(0),
            )
            .optional()?;
        if renewed.is_some() {
            return Ok(renewed);
        }
        Ok(self
            .conn()
            .query_row(
                "SELECT pdf FROM certificates WHERE contract_id = ?1",
                [contract_id],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Every version of a contract's certificate, oldest first.
    pub fn certificate_versions(
        &self,
        contract_id: &str,
    ) -> Result<Vec<CertificateVersion>, Error> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT 1, issued_at, sha256, pdf FROM certificates WHERE contract_id = ?1
             UNION ALL
             SELECT version, created_at, sha256, pdf FROM certificate_versions
             WHERE contract_id = ?1 ORDER BY 1",
        )?;
        let rows = stmt.query_map([contract_id], |r| {
            Ok(CertificateVersion {
                version: r.get(0)?,
                stored_at: r.get(1)?,
                sha256: r.get(2)?,
                pdf: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Contracts whose certificate must be renewed by `by` (or whose renewal date is not known
    /// yet), at most `limit`, soonest first, after `after` (a contract id, for paging).
    pub fn certificates_to_renew(
        &self,
        by: Instant,
        after: &str,
        limit: u32,
    ) -> Result<Vec<String>, Error> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT contract_id FROM certificates
             WHERE (renew_by IS NULL OR renew_by < ?1) AND contract_id > ?2
             ORDER BY contract_id LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![by.unix_secs(), after, limit], |r| r.get(0))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Records when a stored certificate must be renewed, learnt by reading its file.
    pub fn set_renew_by(&mut self, contract_id: &str, renew_by: Instant) -> Result<(), Error> {
        self.write(|tx| {
            tx.execute(
                "UPDATE certificates SET renew_by = ?1 WHERE contract_id = ?2",
                params![renew_by.unix_secs(), contract_id],
            )?;
            Ok(())
        })
    }

    /// Stores a renewed certificate as version `renewed.version` and records the
    /// `certificate_renewed` event, in one transaction. `Ok(false)`: another renewal stored
    /// that version first; nothing was written.
    pub fn store_renewal(
        &mut self,
        contract_id: &str,
        pdf: &[u8],
        renewed: &CertificateRenewed,
        now: Instant,
    ) -> Result<bool, Error> {
        self.write(|tx| {
            let inserted = tx.execute(
                "INSERT INTO certificate_versions
                 (contract_id, version, created_at, sha256, pdf) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
                params![
                    contract_id,
                    renewed.version,
                    now.rfc3339_millis(),
                    renewed.sha256,
                    pdf
                ],
            )?;
            if inserted == 0 {
                return Ok(false);
            }
            tx.execute(
                "UPDATE certificates SET renew_by = ?1 WHERE contract_id = ?2",
                params![renewed.renew_by.unix_secs(), contract_id],
            )?;
            append_event(
                tx,
                contract_id,
                &EventData::CertificateRenewed(renewed.clone()),
                now,
            )?;
            Ok(true)
        })
    }

    /// Stores a signed certificate, records `issued` as its `certificate_issued` event and
    /// queues `copies` (idempotency key, job), all in one transaction; `renew_by` is when its
    /// archive time-stamp must be renewed. A second call for the
    /// same contract keeps the first.
    pub fn store_certificate(
        &mut self,
        contract_id: &str,
        pdf: &[u8],
        issued: &CertificateIssued,
        copies: &[(String, Job)],
        renew_by: Option<Instant>,
        now: Instant,
    ) -> Result<(), Error> {
        self.write(|tx| {
            let inserted = tx.execute(
                "INSERT INTO certificates
                 (contract_id, issued_at, sha256, chain_head, pdf, renew_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
                params![
                    contract_id,
                    now.rfc3339_millis(),
                    issued.sha256,
                    issued.chain_head,
                    pdf,
                    renew_by.map(Instant::unix_secs)
                ],
            )?;
            if inserted == 0 {
                return Ok(());
            }
            append_event(
                tx,
                contract_id,
                &EventData::CertificateIssued(issued.clone()),
                now,
            )?;
            for (key, job) in copies {
                enqueue(tx, Some(contract_id), key, job, now)?;
            }
            Ok(())
        })
    }
}
