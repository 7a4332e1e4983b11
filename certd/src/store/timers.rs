//! Cluster-wide timers: a periodic job (the daily certificate renewal) runs on exactly one node
//! per period, whichever claims it first; on one node it simply runs once per period.

use super::sql::params;
use super::Store;
use crate::error::Error;
use crate::evidence::Instant;

impl Store {
    /// Claims timer `name` if it is due at `now`, moving it `every_secs` ahead: `true` for
    /// exactly one caller per period across every node sharing the store.
    pub fn claim_timer(
        &mut self,
        name: &str,
        now: Instant,
        every_secs: i64,
    ) -> Result<bool, Error> {
        let now = now.unix_secs();
        self.write(|tx| {
            tx.execute(
                "INSERT INTO timers (name, due_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                params![name, now],
            )?;
            let claimed = tx.execute(
                "UPDATE timers SET due_at = ?2 WHERE name = ?1 AND due_at <= ?3",
                params![name, now + every_secs, now],
            )?;
            Ok(claimed == 1)
        })
    }
}

impl Store {
    /// Sets timer `name` to fire next at `due` (a node that just ran the job itself, at its
    /// start-up, moves the cluster's next run a period ahead).
    pub fn set_timer(&mut self, name: &str, due: Instant) -> Result<(), Error> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO timers (name, due_at) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET due_at = excluded.due_at",
                params![name, due.unix_secs()],
            )?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::evidence::Instant;
    use crate::store::test_store::test_store;

    #[test]
    fn a_timer_fires_once_per_period() {
        let mut s = test_store();
        let t0 = Instant::from_unix_secs(1_800_000_000);
        assert!(s.claim_timer("renewal", t0, 86_400).unwrap());
        assert!(!s.claim_timer("renewal", t0, 86_400).unwrap());
        let later = Instant::from_unix_secs(1_800_000_000 + 86_399);
        assert!(!s.claim_timer("renewal", later, 86_400).unwrap());
        let next = Instant::from_unix_secs(1_800_000_000 + 86_400);
        assert!(s.claim_timer("renewal", next, 86_400).unwrap());
        assert!(s.claim_timer("other", t0, 60).unwrap());
        // A node that ran the job at its start pushes the next run a period ahead.
        s.set_timer(
            "renewal",
            Instant::from_unix_secs(1_800_000_000 + 3 * 86_400),
        )
        .unwrap();
        let day2 = Instant::from_unix_secs(1_800_000_000 + 2 * 86_400);
        assert!(!s.claim_timer("renewal", day2, 86_400).unwrap());
    }
}
