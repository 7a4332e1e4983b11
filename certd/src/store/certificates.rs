//! Issued certificates.

use super::contracts::append_event;
use super::outbox::{enqueue, Job};
use super::{ContractRow, Customer, EventRow, Store};
use crate::error::Error;
use crate::evidence::event::CertificateIssued;
use crate::evidence::{EventData, Instant};
use rusqlite::{params, OptionalExtension};

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

impl Store {
    /// The snapshot of contract `id` (id or serial), or `None` if there is no such contract.
    pub fn snapshot(&self, id: &str) -> Result<Option<Snapshot>, Error> {
        let tx = self.conn().unchecked_transaction()?;
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
        tx.commit()?;
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

    /// The signed certificate of a contract, if issued.
    pub fn certificate(&self, contract_id: &str) -> Result<Option<Vec<u8>>, Error> {
        Ok(self
            .conn()
            .query_row(
                "SELECT pdf FROM certificates WHERE contract_id = ?1",
                [contract_id],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Stores a signed certificate, records `issued` as its `certificate_issued` event and
    /// queues `copies` (idempotency key, job), all in one transaction. A second call for the
    /// same contract keeps the first.
    pub fn store_certificate(
        &mut self,
        contract_id: &str,
        pdf: &[u8],
        issued: &CertificateIssued,
        copies: &[(String, Job)],
        now: Instant,
    ) -> Result<(), Error> {
        self.write(|tx| {
            let inserted = tx.execute(
                "INSERT OR IGNORE INTO certificates (contract_id, issued_at, sha256, chain_head, pdf)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    contract_id,
                    now.rfc3339_millis(),
                    issued.sha256,
                    issued.chain_head,
                    pdf
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
