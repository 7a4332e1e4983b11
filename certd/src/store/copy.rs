//! `certd store copy`: moves an installation from its SQLite file into a PostgreSQL (or another
//! SQLite) database, every row as it is, in one transaction that commits only after every
//! contract's hash chain has been recomputed on arrival.

use super::contracts::verify_chain;
use super::sql::{Dialect, Owned, SqlError, ToSql, Tx};
use super::Store;
use crate::error::Error;
use serde::Serialize;

/// Every table, parents before children, with the columns copied (all of them).
const TABLES: &[(&str, &[&str])] = &[
    (
        "customers",
        &[
            "id",
            "name",
            "email",
            "display_name",
            "active",
            "policy",
            "language",
            "deadline_secs",
            "created_at",
        ],
    ),
    ("customer_logins", &["customer_id", "login"]),
    ("customer_dkim_domains", &["customer_id", "domain"]),
    ("customer_phones", &["customer_id", "phone"]),
    ("blobs", &["sha256", "data"]),
    (
        "contracts",
        &[
            "id",
            "serial",
            "customer_id",
            "state",
            "submitted_at",
            "recipient",
            "envelope_from",
            "from_header",
            "message_id",
            "subject",
            "subject_text",
            "body_text",
            "auth_method",
            "auth_identity",
            "queue_id",
            "client_addr",
            "client_name",
            "helo",
            "raw_sha256",
            "raw_size",
            "dedupe_key",
            "deadline_at",
        ],
    ),
    (
        "destinations",
        &[
            "contract_id",
            "position",
            "kind",
            "address",
            "token",
            "bounced_at",
            "sms_code",
            "bounce_token",
            "envid",
        ],
    ),
    (
        "attachments",
        &[
            "contract_id",
            "position",
            "filename",
            "content_type",
            "size",
            "sha256",
        ],
    ),
    (
        "events",
        &[
            "contract_id",
            "seq",
            "at",
            "kind",
            "data",
            "prev_hash",
            "hash",
            "node",
        ],
    ),
    (
        "outbox",
        &[
            "id",
            "contract_id",
            "kind",
            "idempotency_key",
            "payload",
            "due_at",
            "attempts",
            "leased_until",
            "leased_by",
            "done_at",
            "last_error",
        ],
    ),
    (
        "answers",
        &[
            "id",
            "contract_id",
            "token",
            "kind",
            "received_at",
            "raw_sha256",
            "dedupe_key",
        ],
    ),
    (
        "certificates",
        &[
            "contract_id",
            "issued_at",
            "sha256",
            "chain_head",
            "pdf",
            "renew_by",
        ],
    ),
    (
        "certificate_versions",
        &["contract_id", "version", "created_at", "sha256", "pdf"],
    ),
    (
        "sms_outbound",
        &[
            "reference",
            "contract_id",
            "destination",
            "purpose",
            "created_at",
        ],
    ),
    (
        "sms_reports",
        &[
            "id",
            "reference",
            "status",
            "smsc_id",
            "gateway_time",
            "answer",
            "received_at",
        ],
    ),
    (
        "sms_inbound",
        &[
            "id",
            "dedupe_key",
            "received_at",
            "sender",
            "receiver",
            "text",
            "gateway_id",
            "gateway_time",
            "contract_id",
            "outcome",
        ],
    ),
    ("timers", &["name", "due_at"]),
];

/// Tables whose `id` is an identity on PostgreSQL: its sequence continues after the copied ids.
const IDENTITIES: &[&str] = &[
    "customers",
    "outbox",
    "answers",
    "sms_reports",
    "sms_inbound",
];

/// Rows read per page; fewer for tables of messages and PDFs, to bound memory.
fn page_size(table: &str) -> i64 {
    match table {
        "blobs" | "certificates" | "certificate_versions" => 16,
        _ => 1000,
    }
}

/// What a copy moved.
#[derive(Debug, Clone, Serialize)]
pub struct CopyReport {
    /// Rows per table, in copy order.
    pub tables: Vec<(String, u64)>,
    /// Contracts whose chain was recomputed in the target before the commit.
    pub chains_verified: u64,
    pub events_verified: u64,
}

impl Store {
    /// Copies every row of this (SQLite) store into `target`, which must hold no customer and
    /// no contract, in one transaction of the target; every contract's chain is verified there
    /// before the commit, so a target is either complete and verified or unchanged.
    pub fn copy_into(
        &self,
        target: &mut Store,
        mut progress: impl FnMut(&str, u64),
    ) -> Result<CopyReport, Error> {
        if self.dialect() != Dialect::Sqlite {
            return Err(Error::Invalid(
                "store copy reads a SQLite store; to move a PostgreSQL database use pg_dump".into(),
            ));
        }
        let source = self.conn();
        let target_dialect = target.dialect();
        let report = target.write(|tx| {
            let used: i64 = tx.query_row(
                "SELECT (SELECT COUNT(*) FROM customers) + (SELECT COUNT(*) FROM contracts)",
                [],
                |r| r.get(0),
            )?;
            if used != 0 {
                return Err(Error::Conflict(
                    "the target store is not empty (it has customers or contracts)".into(),
                ));
            }
            let mut tables = Vec::new();
            for (table, columns) in TABLES {
                let n = copy_table(&source, tx, table, columns, &mut progress)?;
                tables.push((table.to_string(), n));
            }
            if target_dialect == Dialect::Postgres {
                // The target's triggers counted every row as it arrived.
                super::counts::fold(tx)?;
                for table in IDENTITIES {
                    tx.query_row(
                        &format!(
                            "SELECT setval(pg_get_serial_sequence('{table}', 'id'),
                                    COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
                        ),
                        [],
                        |_| Ok(()),
                    )?;
                }
            }
            let ids: Vec<String> = tx
                .prepare("SELECT id FROM contracts ORDER BY serial")?
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            let mut events_verified = 0u64;
            for id in &ids {
                match verify_chain(tx, id)? {
                    Ok(n) => events_verified += n as u64,
                    Err(e) => {
                        return Err(Error::Conflict(format!(
                            "contract {id}: its chain does not verify after the copy ({e}); nothing was committed"
                        )))
                    }
                }
            }
            progress("chains verified", ids.len() as u64);
            Ok(CopyReport {
                tables,
                chains_verified: ids.len() as u64,
                events_verified,
            })
        })?;
        if target_dialect == Dialect::Postgres {
            // A freshly loaded database has no statistics and no visibility map: without them
            // PostgreSQL plans the first queries badly (status took 950 ms at 1 M contracts
            // instead of milliseconds) until autovacuum comes round.
            target.conn().execute_batch("VACUUM (ANALYZE)")?;
            progress("vacuumed and analyzed", 1);
        }
        Ok(report)
    }
}

/// Copies one table in pages by rowid (SQLite), returning the number of rows.
fn copy_table(
    source: &Tx<'_>,
    target: &Tx<'_>,
    table: &str,
    columns: &[&str],
    progress: &mut impl FnMut(&str, u64),
) -> Result<u64, Error> {
    let list = columns.join(", ");
    let select =
        format!("SELECT rowid, {list} FROM {table} WHERE rowid > ?1 ORDER BY rowid LIMIT ?2");
    let mut after = 0i64;
    let mut copied = 0u64;
    loop {
        let page = source.rows(&select, [after, page_size(table)])?;
        let Some(last) = page.last() else { break };
        after = last.get(0)?;
        // One multi-row INSERT per page: a round trip per page, not per row (at most 1000 rows
        // of 22 columns: under both backends' limits on parameters).
        let values: Vec<Owned> = page
            .into_iter()
            .flat_map(|row| row.into_values().into_iter().skip(1))
            .collect();
        let rows = values.len() / columns.len();
        let tuples: Vec<String> = (0..rows)
            .map(|r| {
                let marks: Vec<String> = (1..=columns.len())
                    .map(|c| format!("?{}", r * columns.len() + c))
                    .collect();
                format!("({})", marks.join(", "))
            })
            .collect();
        let insert = format!("INSERT INTO {table} ({list}) VALUES {}", tuples.join(", "));
        let params: Vec<&dyn ToSql> = values.iter().map(|v| v as &dyn ToSql).collect();
        target
            .execute(&insert, params.as_slice())
            .map_err(|e: SqlError| Error::Database(format!("copying {table}: {e}")))?;
        copied += rows as u64;
        progress(table, copied);
    }
    Ok(copied)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::contracts::tests::submission;
    use crate::store::customers::tests::alice;
    use crate::store::test_store::test_store;

    /// Tables of derived data, not copied: the target's own triggers keep them as rows arrive.
    const DERIVED: &[&str] = &["counts", "count_deltas"];

    #[test]
    fn every_table_of_the_schema_is_copied() {
        let s = Store::open_in_memory().unwrap();
        let names: Vec<String> = s
            .conn()
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table'
                 AND name NOT LIKE 'sqlite_%' ORDER BY name",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut copied: Vec<String> = TABLES
            .iter()
            .map(|(t, _)| t.to_string())
            .chain(DERIVED.iter().map(|t| t.to_string()))
            .collect();
        copied.sort();
        assert_eq!(names, copied);
        for (table, columns) in TABLES {
            let n: i64 = s
                .conn()
                .query_row(
                    &format!("SELECT COUNT(*) FROM pragma_table_info('{table}')"),
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(n as usize, columns.len(), "columns of {table}");
        }
    }

    #[test]
    fn a_copy_keeps_every_row_and_chain_and_refuses_a_used_target() {
        let mut src = Store::open_in_memory().unwrap();
        let now = crate::evidence::Instant::now();
        src.add_customer(&alice(), now).unwrap();
        src.submit(&submission("k1")).unwrap();
        src.submit(&submission("k2")).unwrap();
        let mut dst = test_store();
        let report = src.copy_into(&mut dst, |_, _| {}).unwrap();
        assert_eq!(report.chains_verified, 2);
        let count = |t: &str| report.tables.iter().find(|(n, _)| n == t).unwrap().1;
        assert_eq!(count("contracts"), 2);
        assert_eq!(count("customers"), 1);
        assert!(count("events") >= 4);
        // The target's triggers counted the contracts as they arrived.
        let (hs, hd) = (src.health(now).unwrap(), dst.health(now).unwrap());
        assert_eq!(hd.contracts_by_state, hs.contracts_by_state);
        assert_eq!(hd.contracts, 2);
        assert_eq!(hd.outbox_by_kind, hs.outbox_by_kind);
        // ... and the copy folded their deltas (PostgreSQL): nothing is left to add up.
        let deltas: i64 = dst
            .conn()
            .query_row("SELECT COUNT(*) FROM count_deltas", [], |r| r.get(0))
            .unwrap();
        assert_eq!(deltas, 0);
        for c in src.list_contracts(&Default::default()).unwrap() {
            let there = dst.contract(&c.id).unwrap().expect("copied");
            assert_eq!(there.summary.serial, c.serial);
            assert_eq!(
                dst.events(&c.id).unwrap().len(),
                src.events(&c.id).unwrap().len()
            );
            assert_eq!(
                dst.raw_message(&c.id).unwrap(),
                src.raw_message(&c.id).unwrap()
            );
            assert_eq!(
                dst.verify_chain(&c.id).unwrap(),
                src.verify_chain(&c.id).unwrap()
            );
        }
        // New rows continue after the copied ids and serials.
        let third = dst.submit(&submission("k3")).unwrap();
        match third {
            crate::store::SubmitOutcome::Committed(c) => assert_eq!(c.serial, 3),
            other => panic!("{other:?}"),
        }
        let err = src.copy_into(&mut dst, |_, _| {}).unwrap_err().to_string();
        assert!(err.contains("not empty"), "{err}");
    }

    #[test]
    fn a_chain_that_does_not_verify_in_the_target_commits_nothing() {
        let mut src = Store::open_in_memory().unwrap();
        src.add_customer(&alice(), crate::evidence::Instant::now())
            .unwrap();
        src.submit(&submission("k1")).unwrap();
        // History edited behind the triggers, as an attacker with file access could.
        src.conn()
            .execute_batch(
                "DROP TRIGGER events_append_only_update;
                 UPDATE events SET data = '{}' WHERE seq = 1;",
            )
            .unwrap();
        let mut dst = test_store();
        let err = src.copy_into(&mut dst, |_, _| {}).unwrap_err().to_string();
        assert!(err.contains("does not verify after the copy"), "{err}");
        assert!(dst.list_contracts(&Default::default()).unwrap().is_empty());
        assert!(
            dst.customer("alice").unwrap().is_none(),
            "nothing was committed"
        );
    }
}
