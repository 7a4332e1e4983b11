//! Several nodes on one store at once (threads, one store handle each, as certd on several
//! machines): serials, leases, deadlines and chains stay exactly-once. On SQLite the nodes
//! share a file; with `CERTMAIL_TEST_PG` they share a PostgreSQL database.

use super::contracts::tests::submission;
use super::customers::tests::alice;
use super::test_store::test_cluster;
use super::{Store, SubmitOutcome};
use crate::evidence::Instant;
use std::collections::BTreeSet;
use std::thread;

fn committed(o: SubmitOutcome) -> certmail_protocol::Committed {
    match o {
        SubmitOutcome::Committed(c) => c,
        other => panic!("{other:?}"),
    }
}

/// Runs `f` on every store in its own thread, returning the stores and each result.
fn on_every_node<T: Send>(
    stores: Vec<Store>,
    f: impl Fn(usize, &mut Store) -> T + Sync,
) -> (Vec<Store>, Vec<T>) {
    let f = &f;
    thread::scope(|scope| {
        let handles: Vec<_> = stores
            .into_iter()
            .enumerate()
            .map(|(i, mut s)| {
                scope.spawn(move || {
                    let out = f(i, &mut s);
                    (s, out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("node thread"))
            .unzip()
    })
}

#[test]
fn serials_stay_gap_free_and_unique_across_nodes() {
    let (mut stores, _dir) = test_cluster(2);
    stores[0].add_customer(&alice(), Instant::now()).unwrap();
    let (mut stores, serials) = on_every_node(stores, |node, s| {
        (0..40)
            .map(|i| committed(s.submit(&submission(&format!("n{node}-{i}"))).unwrap()).serial)
            .collect::<Vec<_>>()
    });
    let all: BTreeSet<u64> = serials.iter().flatten().copied().collect();
    assert_eq!(all, (1..=80).collect(), "80 distinct serials, no gap");
    // The same submission retried on the other node is the same contract.
    let again = committed(stores[1].submit(&submission("n0-3")).unwrap());
    assert!(again.duplicate);
    for c in stores[0].list_contracts(&Default::default()).unwrap() {
        assert!(stores[1].verify_chain(&c.id).unwrap().is_ok());
    }
}

#[test]
fn every_outbox_effect_is_leased_by_one_node_only() {
    let (mut stores, _dir) = test_cluster(2);
    stores[0].add_customer(&alice(), Instant::now()).unwrap();
    for i in 0..30 {
        stores[0].submit(&submission(&format!("k{i}"))).unwrap();
    }
    let pending = stores[0].pending_outbox().unwrap().len();
    assert_eq!(pending, 60, "a receipt and a request each");
    let (stores, done) = on_every_node(stores, |_, s| {
        let mut done = Vec::new();
        for _ in 0..200 {
            let leased = s.lease_due(3, 60, Instant::now()).unwrap();
            if leased.is_empty() {
                break;
            }
            for item in leased {
                s.complete(item.id, Instant::now()).unwrap();
                done.push(item.id);
            }
        }
        done
    });
    let mut all: Vec<i64> = done.iter().flatten().copied().collect();
    let n = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), n, "no effect performed twice");
    assert_eq!(n, 60, "every effect performed");
    assert!(stores[1].pending_outbox().unwrap().is_empty());
}

#[test]
fn a_node_releases_only_its_own_leases() {
    let (mut stores, _dir) = test_cluster(2);
    stores[0].add_customer(&alice(), Instant::now()).unwrap();
    stores[0].submit(&submission("k1")).unwrap();
    let mine = stores[0].lease_due(1, 600, Instant::now()).unwrap();
    let theirs = stores[1].lease_due(1, 600, Instant::now()).unwrap();
    assert_eq!((mine.len(), theirs.len()), (1, 1));
    // Node 2 starts again: its lease is void, node 1's is not.
    assert_eq!(stores[1].release_leases().unwrap(), 1);
    let again = stores[1].lease_due(10, 600, Instant::now()).unwrap();
    assert_eq!(
        again.iter().map(|i| i.id).collect::<Vec<_>>(),
        [theirs[0].id]
    );
}

#[test]
fn a_node_extends_only_its_own_leases() {
    let (mut stores, _dir) = test_cluster(2);
    stores[0].add_customer(&alice(), Instant::now()).unwrap();
    stores[0].submit(&submission("k1")).unwrap();
    let now = Instant::now();
    let mine = stores[0].lease_due(1, 60, now).unwrap();
    let theirs = stores[1].lease_due(1, 60, now).unwrap();
    let ids = [mine[0].id, theirs[0].id];
    assert_eq!(stores[0].extend_leases(&ids, 600, now).unwrap(), 1);
    // Past the first 60 s only node 2's row is free again: node 1 kept its own lease alive.
    let later = now.plus_secs(120);
    let free = stores[1].lease_due(10, 60, later).unwrap();
    assert_eq!(
        free.iter().map(|i| i.id).collect::<Vec<_>>(),
        [theirs[0].id]
    );
}

#[test]
fn a_deadline_fired_on_every_node_ends_the_contract_once() {
    let (mut stores, _dir) = test_cluster(3);
    stores[0].add_customer(&alice(), Instant::now()).unwrap();
    let ids: Vec<String> = (0..10)
        .map(|i| committed(stores[0].submit(&submission(&format!("k{i}"))).unwrap()).contract_id)
        .collect();
    let later = Instant::now().plus_secs(30 * 86_400);
    let (stores, ended) = on_every_node(stores, |_, s| {
        ids.iter()
            .filter(|id| s.expire(id, later).unwrap().is_ok())
            .count()
    });
    assert_eq!(
        ended.iter().sum::<usize>(),
        10,
        "each contract ended by one node"
    );
    for id in &ids {
        let kinds: Vec<String> = stores[0]
            .events(id)
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(
            kinds.iter().filter(|k| k.starts_with("deadline")).count(),
            1,
            "{kinds:?}"
        );
        assert!(stores[2].verify_chain(id).unwrap().is_ok());
    }
}

#[test]
fn a_timer_is_claimed_by_one_node_per_period() {
    let (stores, _dir) = test_cluster(3);
    let t0 = Instant::from_unix_secs(1_900_000_000);
    let (_, claimed) = on_every_node(stores, |_, s| {
        s.claim_timer("certificate-renewal", t0, 86_400).unwrap()
    });
    assert_eq!(claimed.iter().filter(|c| **c).count(), 1, "{claimed:?}");
}

#[test]
fn a_node_name_is_claimed_once() {
    let (stores, _dir) = test_cluster(2);
    stores[0].claim_node().unwrap();
    let mut same = stores;
    same[1].set_node("node1");
    match same[1].dialect() {
        // One certd per SQLite file: its lock file, not the store, refuses a second one.
        super::Dialect::Sqlite => assert!(same[1].claim_node().is_ok()),
        super::Dialect::Postgres => {
            let err = same[1].claim_node().unwrap_err().to_string();
            assert!(err.contains("already running as node \"node1\""), "{err}");
            same[1].set_node("node2");
            same[1].claim_node().unwrap();
        }
    }
}

#[test]
fn counts_stay_exact_while_nodes_write_and_fold_at_once() {
    use super::counts::tests::{nonzero, recount};
    let (mut stores, _dir) = test_cluster(2);
    stores[0].add_customer(&alice(), Instant::now()).unwrap();
    // Submissions, effects done and failed, and folds, interleaved on both nodes: on PostgreSQL
    // no transaction waits for another's counter rows, and none deadlocks.
    let (stores, _) = on_every_node(stores, |node, s| {
        for i in 0..20 {
            s.submit(&submission(&format!("n{node}-{i}"))).unwrap();
            for (j, item) in s
                .lease_due(2, 60, Instant::now())
                .unwrap()
                .into_iter()
                .enumerate()
            {
                match j {
                    0 => s.complete(item.id, Instant::now()).unwrap(),
                    _ => s.reschedule(item.id, Instant::now(), "later").unwrap(),
                }
            }
            if i % 5 == node {
                s.fold_counts().unwrap();
            }
        }
    });
    assert_eq!(nonzero(stores[1].counts().unwrap()), recount(&stores[1]));
    assert_eq!(stores[0].health(Instant::now()).unwrap().contracts, 40);
}

#[test]
fn a_node_name_is_taken_again_after_a_reconnection() {
    let (mut stores, _dir) = test_cluster(3);
    if stores[0].dialect() == super::Dialect::Sqlite {
        return; // the name is a PostgreSQL session lock; SQLite has its lock file
    }
    stores[0].add_customer(&alice(), Instant::now()).unwrap();
    stores[0].claim_node().unwrap();
    // The server ends node1's session (a restart, a failover, an administrator).
    let pid: i32 = stores[0]
        .conn()
        .query_row("SELECT pg_backend_pid()", [], |r| r.get::<_, i64>(0))
        .unwrap() as i32;
    // With a timeout it returns once the session is gone, and the lock with it.
    let ended: bool = stores[1]
        .conn()
        .query_row(
            "SELECT pg_terminate_backend(?1, 10000)",
            [i64::from(pid)],
            |r| r.get(0),
        )
        .unwrap();
    assert!(ended);
    // Meanwhile a second certd starts with the same name: it gets it, the session lock is gone.
    let name = stores[0].node().to_string();
    stores[2].set_node(&name);
    stores[2].claim_node().unwrap();
    // node1 reconnects at its next statement, cannot take its name back, and writes nothing.
    let _ = stores[0].submit(&submission("cut-off")); // the statement the server cut off
    let err = stores[0].submit(&submission("k1")).unwrap_err().to_string();
    assert!(err.contains("its name is taken"), "{err}");
    assert_eq!(
        stores[1].list_contracts(&Default::default()).unwrap().len(),
        0
    );
    // Once the other certd is gone, node1 takes its name again and works. (Its locks are
    // released here: a dropped connection's session ends a moment later, asynchronously.)
    stores[2]
        .conn()
        .execute_batch("SELECT pg_advisory_unlock_all()")
        .unwrap();
    drop(stores.pop());
    committed(stores[0].submit(&submission("k1")).unwrap());
}
