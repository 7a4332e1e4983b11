//! The trigger-kept counts (contracts per state, certificates, the outbox per kind) and the
//! outbox backlog `certd status` and the metrics read: constant time at a million contracts.

use super::sql::{params, Dialect, Tx};
use super::Store;
use crate::error::Error;
use crate::evidence::{Instant, JobKind};
use serde::Serialize;
use std::collections::BTreeMap;

/// The pending effects of one kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Backlog {
    /// Not yet done.
    pub pending: i64,
    /// Pending and due (being performed, or waiting for certd).
    pub due: i64,
    /// Pending after failing at least once.
    pub failing: i64,
    /// Unix seconds of the oldest due one.
    pub oldest_due: Option<i64>,
}

/// Up to this many due effects of a kind are counted one by one; past it the not-yet-due ones
/// are counted instead and subtracted from the pending count: the cost follows the smaller side
/// (a healthy outbox has few due effects, a stalled one few scheduled ones).
const COUNT_DUE_UP_TO: i64 = 20_000;

/// The oldest pending effect of a kind (the first entry of `outbox_pending_kind`).
const OLDEST_PENDING: &str = "SELECT MIN(due_at) FROM outbox WHERE kind = ?1 AND done_at IS NULL";
/// The due effects of a kind, counted up to a limit.
const DUE_UP_TO: &str = "SELECT COUNT(*) FROM (SELECT 1 FROM outbox
    WHERE kind = ?1 AND done_at IS NULL AND due_at <= ?2 LIMIT ?3) AS d";
/// The effects of a kind not yet due.
const NOT_YET_DUE: &str =
    "SELECT COUNT(*) FROM outbox WHERE kind = ?1 AND done_at IS NULL AND due_at > ?2";

impl Store {
    /// Every count by name (`contracts:<state>`, `certificates`, `outbox:<kind>`,
    /// `outbox-failing:<kind>`): the folded counts plus the deltas PostgreSQL's triggers have
    /// appended since (postgres_v10.sql; on SQLite there are none).
    pub fn counts(&self) -> Result<BTreeMap<String, i64>, Error> {
        let c = self.conn();
        let mut stmt = c.prepare(
            "SELECT name, CAST(SUM(n) AS BIGINT) FROM
               (SELECT name, n FROM counts UNION ALL SELECT name, n FROM count_deltas) AS t
             GROUP BY name",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The backlog of every kind of effect at `now` (every kind present, zero when idle).
    pub fn outbox_backlog(
        &self,
        counts: &BTreeMap<String, i64>,
        now: Instant,
    ) -> Result<BTreeMap<&'static str, Backlog>, Error> {
        self.backlog_counting_due_up_to(counts, now, COUNT_DUE_UP_TO)
    }

    fn backlog_counting_due_up_to(
        &self,
        counts: &BTreeMap<String, i64>,
        now: Instant,
        count_due_up_to: i64,
    ) -> Result<BTreeMap<&'static str, Backlog>, Error> {
        let now = now.unix_secs();
        let c = self.conn();
        let mut out = BTreeMap::new();
        for kind in JobKind::ALL {
            let name = kind.as_str();
            let get = |prefix: &str| counts.get(&format!("{prefix}:{name}")).copied();
            let pending = get("outbox").unwrap_or(0).max(0);
            let mut b = Backlog {
                pending,
                failing: get("outbox-failing").unwrap_or(0).clamp(0, pending),
                ..Backlog::default()
            };
            // The oldest pending effect comes first in the index; due or not decides the rest.
            let oldest: Option<i64> = match pending {
                0 => None,
                _ => c.query_row(OLDEST_PENDING, [name], |r| r.get(0))?,
            };
            if let Some(oldest) = oldest.filter(|&t| t <= now) {
                b.oldest_due = Some(oldest);
                let due: i64 =
                    c.query_row(DUE_UP_TO, params![name, now, count_due_up_to], |r| r.get(0))?;
                b.due = if due < count_due_up_to {
                    due
                } else {
                    let later: i64 = c.query_row(NOT_YET_DUE, params![name, now], |r| r.get(0))?;
                    pending - later
                }
                .clamp(0, pending);
            }
            out.insert(name, b);
        }
        Ok(out)
    }

    /// Folds the deltas PostgreSQL's triggers appended into `counts` (a node does it every
    /// minute); returns how many it folded. Nothing to do on SQLite.
    pub fn fold_counts(&mut self) -> Result<u64, Error> {
        if self.dialect() == Dialect::Sqlite {
            return Ok(0);
        }
        self.write(fold)
    }
}

/// Folds the deltas in `tx` (PostgreSQL only), returning how many.
pub(super) fn fold(tx: &Tx<'_>) -> Result<u64, Error> {
    // One statement: the deltas it deletes are exactly those it adds, so a reader sees each
    // once; counters are upserted in name order, so two nodes folding at once never deadlock.
    Ok(tx.query_row(
        "WITH moved AS (DELETE FROM count_deltas RETURNING name, n),
              folded AS (
                INSERT INTO counts (name, n)
                SELECT name, SUM(n) FROM moved GROUP BY name ORDER BY name
                ON CONFLICT (name) DO UPDATE SET n = counts.n + EXCLUDED.n
                RETURNING 1)
         SELECT (SELECT COUNT(*) FROM moved)",
        [],
        |r| r.get::<_, i64>(0),
    )? as u64)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::tests_support::{alice, submission};

    /// The counts as a full scan finds them, zeros left out.
    pub(crate) fn recount(s: &Store) -> BTreeMap<String, i64> {
        let c = s.conn();
        let mut out = BTreeMap::new();
        for sql in [
            "SELECT 'contracts:' || state, COUNT(*) FROM contracts GROUP BY state",
            "SELECT 'certificates', COUNT(*) FROM certificates",
            "SELECT 'outbox:' || kind, COUNT(*) FROM outbox WHERE done_at IS NULL GROUP BY kind",
            "SELECT 'outbox-failing:' || kind, COUNT(*) FROM outbox
             WHERE done_at IS NULL AND last_error IS NOT NULL GROUP BY kind",
        ] {
            let mut stmt = c.prepare(sql).unwrap();
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                .unwrap();
            out.extend(rows.map(Result::unwrap).filter(|(_, n)| *n != 0));
        }
        out
    }

    pub(crate) fn nonzero(counts: BTreeMap<String, i64>) -> BTreeMap<String, i64> {
        counts.into_iter().filter(|(_, n)| *n != 0).collect()
    }

    #[test]
    fn the_counts_follow_every_write_and_survive_a_fold() {
        let mut s = crate::store::test_store::test_store();
        s.add_customer(&alice(), Instant::now()).unwrap();
        for k in ["k1", "k2", "k3"] {
            s.submit(&submission(k)).unwrap();
        }
        assert_eq!(nonzero(s.counts().unwrap()), recount(&s));
        assert_eq!(s.counts().unwrap()["outbox:request"], 3);
        let leased = s.lease_due(4, 60, Instant::now()).unwrap();
        s.complete(leased[0].id, Instant::now()).unwrap();
        s.reschedule(leased[1].id, Instant::now(), "smtp down")
            .unwrap();
        s.reschedule(leased[2].id, Instant::now(), "smtp down")
            .unwrap();
        // A second failure of the same effect is not counted twice; a success clears it.
        let again = s.lease_due(8, 60, Instant::now()).unwrap();
        let failed = again.iter().find(|i| i.last_error.is_some()).unwrap();
        s.reschedule(failed.id, Instant::now(), "smtp still down")
            .unwrap();
        let ok = again
            .iter()
            .find(|i| i.last_error.is_some() && i.id != failed.id);
        s.complete(ok.unwrap().id, Instant::now()).unwrap();
        let counts = nonzero(s.counts().unwrap());
        assert_eq!(counts, recount(&s));
        let failing: i64 = counts
            .iter()
            .filter(|(k, _)| k.starts_with("outbox-failing:"))
            .map(|(_, n)| n)
            .sum();
        assert_eq!(failing, 1);
        let folded = s.fold_counts().unwrap();
        assert_eq!(nonzero(s.counts().unwrap()), recount(&s), "after the fold");
        match s.dialect() {
            Dialect::Sqlite => assert_eq!(folded, 0, "SQLite's triggers update counts directly"),
            Dialect::Postgres => {
                assert!(folded > 0);
                assert_eq!(s.fold_counts().unwrap(), 0, "each delta is folded once");
            }
        }
    }

    #[test]
    fn due_effects_are_counted_from_either_side_of_now() {
        let mut s = crate::store::test_store::test_store();
        s.add_customer(&alice(), Instant::now()).unwrap();
        for k in ["k1", "k2", "k3", "k4"] {
            s.submit(&submission(k)).unwrap();
        }
        // One request effect put off by an hour: three are due, one is not.
        let leased = s.lease_due(8, 60, Instant::now()).unwrap();
        let request = leased
            .iter()
            .find(|i| i.job.kind_name() == "request")
            .unwrap();
        s.reschedule(request.id, Instant::now().plus_secs(3600), "greylisted")
            .unwrap();
        let others: Vec<i64> = leased
            .iter()
            .filter(|i| i.id != request.id)
            .map(|i| i.id)
            .collect();
        s.release(&others).unwrap();
        let now = Instant::now().plus_secs(60);
        let counts = s.counts().unwrap();
        // Counted one by one (under the limit), and as pending minus the later ones (at it).
        for up_to in [100, 2, 1] {
            let b = s.backlog_counting_due_up_to(&counts, now, up_to).unwrap();
            assert_eq!(b["request"].pending, 4, "up to {up_to}");
            assert_eq!(b["request"].due, 3, "up to {up_to}");
            assert_eq!(b["request"].failing, 1);
            assert!(b["request"]
                .oldest_due
                .is_some_and(|t| t <= now.unix_secs()));
            assert_eq!(b["receipt"].due, 4);
            assert_eq!(b["certificate"], Backlog::default());
        }
        let later = Instant::now().plus_secs(7200);
        assert_eq!(s.outbox_backlog(&counts, later).unwrap()["request"].due, 4);
    }

    /// SQLite's plan of each query of `certd status` over the outbox: an index made for it, no
    /// scan of the pending effects (the certificates blocked once read all 100 000 pending
    /// certificate jobs of the 1 M bench store: 179 ms).
    #[test]
    fn the_status_queries_read_their_own_index() {
        let s = Store::open_in_memory().unwrap();
        for (sql, index, args) in [
            (OLDEST_PENDING, "outbox_pending_kind", 1),
            (DUE_UP_TO, "outbox_pending_kind", 3),
            (NOT_YET_DUE, "outbox_pending_kind", 2),
            (super::super::admin::FAILING, "outbox_failing", 1),
            (
                super::super::admin::FAILING_OF_KIND,
                "outbox_failing_kind",
                2,
            ),
        ] {
            let values: Vec<i64> = vec![1; args];
            let args: Vec<&dyn crate::store::sql::ToSql> = values
                .iter()
                .map(|v| v as &dyn crate::store::sql::ToSql)
                .collect();
            let plan = crate::store::test_store::sqlite_plan(&s, sql, &args);
            assert!(
                plan.contains(&format!("USING INDEX {index} ")) || plan.ends_with(index),
                "{sql}: {plan}"
            );
            assert!(!plan.contains("TEMP B-TREE"), "{sql}: {plan}");
        }
    }
}
