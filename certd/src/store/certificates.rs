//! Issued certificates.

use super::contracts::append_event;
use super::outbox::enqueue;
use super::{rfc3339_now, unix_now, Store};
use crate::error::Error;
use crate::outbox::Effect;
use rusqlite::{params, OptionalExtension};
use serde_json::json;
use sha2::{Digest, Sha256};

impl Store {
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

    /// Stores a signed certificate, records `certificate_issued` and queues one copy per
    /// recipient, all in one transaction. A second call for the same contract keeps the first.
    pub fn store_certificate(
        &mut self,
        contract_id: &str,
        pdf: &[u8],
        chain_head: &str,
        timestamp: &serde_json::Value,
        copies_to: &[String],
    ) -> Result<(), Error> {
        self.write(|tx| {
            let sha = hex::encode(Sha256::digest(pdf));
            let inserted = tx.execute(
                "INSERT OR IGNORE INTO certificates (contract_id, issued_at, sha256, chain_head, pdf)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![contract_id, rfc3339_now(), sha, chain_head, pdf],
            )?;
            if inserted == 0 {
                return Ok(());
            }
            append_event(
                tx,
                contract_id,
                "certificate_issued",
                &json!({ "sha256": sha, "size": pdf.len(), "chain_head": chain_head,
                         "timestamp": timestamp, "copies_to": copies_to }),
            )?;
            for to in copies_to {
                enqueue(
                    tx,
                    Some(contract_id),
                    &format!("certificate-copy:{contract_id}:{to}"),
                    &Effect::CertificateCopy {
                        contract_id: contract_id.into(),
                        to: to.clone(),
                    },
                    unix_now(),
                )?;
            }
            Ok(())
        })
    }
}
