//! Renewing archive time-stamps (PAdES B-LTA, ETSI EN 319 142-1 section 5.5.3): a stored
//! certificate whose newest time-stamp's TSA certificate expires within the horizon gets fresh
//! validation data and a new document time-stamp, stored as its next version.

use super::Certifier;
use crate::error::Error;
use crate::evidence::event::{CertificateRenewed, TimestampSummary};
use crate::evidence::Instant;
use crate::store::{lock, Store};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::sync::Mutex;

/// Certificates read per store query.
const PAGE: u32 = 64;

/// What one renewal run did.
#[derive(Debug, Default, Serialize)]
pub struct Renewals {
    /// Certificates looked at.
    pub checked: usize,
    /// (contract id, new version, renew again by).
    pub renewed: Vec<(String, u32, String)>,
    /// (contract id, why): left as they were, tried again on the next run.
    pub failed: Vec<(String, String)>,
    /// Set when the run stopped early: the TSA's certificate expires no later than the
    /// archive time-stamps it would replace, so renewing gains nothing until it is changed.
    pub stopped: Option<String>,
}

fn instant(d: std::time::Duration) -> Instant {
    Instant::from_unix_secs(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Renews every stored certificate whose archive time-stamp must be renewed before
/// `now + horizon_secs`, at most `limit` of them. The store lock is held only to read and to
/// store, never while the TSA or the responders are asked.
pub fn renew_due(
    store: &Mutex<Store>,
    certifier: &Certifier,
    horizon_secs: i64,
    limit: usize,
    now: Instant,
) -> Result<Renewals, Error> {
    let by = now.plus_secs(horizon_secs);
    let mut out = Renewals::default();
    let mut after = String::new();
    'pages: loop {
        let ids = lock(store).certificates_to_renew(by, &after, PAGE)?;
        let Some(last) = ids.last() else {
            break;
        };
        after = last.clone();
        for id in ids {
            if out.checked >= limit {
                break 'pages;
            }
            out.checked += 1;
            let versions = lock(store).certificate_versions(&id)?;
            let Some(newest) = versions.last() else {
                continue;
            };
            let (version, pdf) = (newest.version, &newest.pdf);
            let Some(old_by) = crate::signature::renew_by(pdf).map(instant) else {
                out.failed
                    .push((id, "the file has no readable time-stamp".into()));
                continue;
            };
            if old_by >= by {
                // Issued before the renewal date was recorded, and not due.
                lock(store).set_renew_by(&id, old_by)?;
                continue;
            }
            let renewed = match crate::signature::renew(
                pdf,
                certifier.tsa.as_ref(),
                certifier.revocation.as_ref(),
                &certifier.issuers,
            ) {
                Ok(r) => r,
                Err(e) => {
                    log::warn!("contract={id} certificate not renewed: {e}");
                    out.failed.push((id, e.to_string()));
                    continue;
                }
            };
            let Some(new_by) = crate::signature::renew_by(&renewed).map(instant) else {
                out.failed
                    .push((id, "the renewed file has no readable time-stamp".into()));
                continue;
            };
            if new_by <= old_by {
                out.stopped = Some(format!(
                    "the TSA's certificate expires {}, no later than the archive time-stamp of \
                     contract {id} ({}): configure a TSA whose certificate lasts longer",
                    new_by.rfc3339_seconds(),
                    old_by.rfc3339_seconds()
                ));
                break 'pages;
            }
            let timestamp: Option<TimestampSummary> =
                serde_json::from_value(crate::signature::archive_timestamp_summary(&renewed))
                    .unwrap_or(None);
            let record = CertificateRenewed {
                version: version + 1,
                sha256: hex::encode(Sha256::digest(&renewed)),
                size: renewed.len() as u64,
                timestamp,
                renew_by: new_by,
            };
            if lock(store).store_renewal(&id, &renewed, &record, Instant::now())? {
                log::info!(
                    "contract={id} certificate renewed: version {}, renew again by {}",
                    record.version,
                    new_by.rfc3339_seconds()
                );
                out.renewed
                    .push((id, record.version, new_by.rfc3339_seconds()));
            }
        }
    }
    Ok(out)
}
