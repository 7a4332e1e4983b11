//! Chaos across nodes: contracts in flight over two nodes sharing PostgreSQL while node 1's
//! certd is killed with SIGKILL at random moments and restarted. Every contract ends with
//! exactly one outcome and one stored certificate, chains verify; mails sent twice (at least
//! once delivery: a kill between sending and recording) are counted and reported.
//!
//! `CERTMAIL_CHAOS_CONTRACTS` sets how many (default 200); the seed of the kills is printed.

use certmail_e2e::{header, mime_message, read_maildir, send_until_accepted, Sandbox};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A small deterministic generator: the kills are reproducible from the printed seed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % bound
    }
}

/// Messages of `who` by Message-ID: how many times each was delivered.
fn by_message_id(sb: &Sandbox, who: &str, pick: impl Fn(&[u8]) -> bool) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for m in read_maildir(&sb.maildir(who)) {
        if pick(&m) {
            let id = header(&m, "Message-ID").unwrap_or_default();
            *seen.entry(id).or_insert(0) += 1;
        }
    }
    seen
}

#[test]
fn contracts_over_two_nodes_survive_sigkill_of_node_1_exactly_once() {
    let n: usize = std::env::var("CERTMAIL_CHAOS_CONTRACTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    eprintln!("chaos: {n} contracts, seed {seed}");
    let sb = Sandbox::up_with(
        "chaos",
        &[("SANDBOX_NODES", "2"), ("SANDBOX_STORE", "postgres")],
    );
    // Unanswered contracts end at their deadline, fired by whichever node's timer comes first.
    sb.add_customer_with_deadline("chaos", "40s");
    let password = sb.get("CUSTOMER_PASSWORD").to_string();
    let ports = [sb.port("SMTP_PORT"), sb.port("NODE2_SMTP_PORT")];

    let done = AtomicBool::new(false);
    let kills = std::thread::scope(|scope| {
        let killer = scope.spawn(|| {
            let mut rng = Lcg(seed);
            let mut kills = 0;
            while !done.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(1000 + rng.next(3000)));
                if done.load(Ordering::SeqCst) {
                    break;
                }
                sb.kill9("certd");
                kills += 1;
                std::thread::sleep(Duration::from_millis(200 + rng.next(1000)));
                sb.service("start", "certd");
            }
            kills
        });

        // Submissions alternate between the nodes' contract listeners.
        for i in 0..n {
            let msg = mime_message(
                "alice@example.test",
                "chaos@contract.test",
                &format!("bob@example.test Chaos offer {i}"),
                &format!("Offer number {i}."),
                &[],
            );
            send_until_accepted(
                ports[i % 2],
                Some(("alice", &password)),
                "alice@example.test",
                "chaos@contract.test",
                &msg,
            );
        }
        eprintln!("chaos: {n} submitted");

        // Bob answers every other contract, through the other node than it was submitted on.
        let deadline = Instant::now() + Duration::from_secs(300);
        let mut answered = std::collections::HashSet::new();
        while answered.len() < n / 2 && Instant::now() < deadline {
            for m in read_maildir(&sb.maildir("bob")) {
                let subject = header(&m, "Subject").unwrap_or_default();
                let Some(reply_to) = header(&m, "Reply-To").filter(|r| r.contains("reply+")) else {
                    continue;
                };
                let Some(i) = subject
                    .split("Chaos offer ")
                    .nth(1)
                    .and_then(|t| t.split_whitespace().next())
                    .and_then(|t| t.parse::<usize>().ok())
                else {
                    continue;
                };
                if i % 2 == 1 || !answered.insert(i) {
                    continue;
                }
                let words = if i % 4 == 0 { "I accept." } else { "I reject" };
                let answer = mime_message("bob@example.test", &reply_to, "Re: offer", words, &[]);
                send_until_accepted(
                    ports[(i + 1) % 2],
                    None,
                    "bob@example.test",
                    &reply_to,
                    &answer,
                );
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        assert_eq!(answered.len(), n / 2, "bob answered every even contract");

        // Everything settles: every contract certified.
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let stored: usize = sb.sql_column("SELECT COUNT(*) FROM certificates")[0]
                .parse()
                .unwrap_or(0);
            if stored >= n || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        done.store(true, Ordering::SeqCst);
        killer.join().expect("killer thread")
    });
    // The killer leaves certd running; let the outboxes drain the last copies.
    std::thread::sleep(Duration::from_secs(5));
    eprintln!("chaos: node 1's certd killed {kills} times");
    assert!(kills >= 1, "certd was killed at least once");

    let contracts = sb.contracts();
    assert_eq!(
        contracts.len(),
        n,
        "one contract per submission, none doubled by a retry"
    );
    assert_eq!(
        sb.sql_column("SELECT COUNT(*) FROM certificates"),
        [n.to_string()]
    );
    let mut states: HashMap<String, usize> = HashMap::new();
    for c in &contracts {
        *states
            .entry(c["state"].as_str().unwrap_or("?").to_string())
            .or_default() += 1;
    }
    eprintln!("chaos: outcomes {states:?}");
    assert_eq!(states.get("accepted").copied().unwrap_or(0), n.div_ceil(4));
    assert_eq!(
        states.get("rejected").copied().unwrap_or(0) + states.get("accepted").copied().unwrap_or(0),
        n.div_ceil(2)
    );
    assert_eq!(states.get("unanswered").copied().unwrap_or(0), n / 2);
    // One outcome and one certificate per contract in the evidence; every chain verifies.
    let per_contract = |kinds: &str| -> Vec<String> {
        sb.sql_column(&format!(
            "SELECT COUNT(*) FROM contracts c LEFT JOIN events e ON e.contract_id = c.id
             AND e.kind IN ({kinds}) GROUP BY c.id HAVING COUNT(e.kind) <> 1"
        ))
    };
    assert!(
        per_contract("'certificate_issued'").is_empty(),
        "a contract without exactly one certificate_issued"
    );
    for c in &contracts {
        let id = c["id"].as_str().expect("id");
        let show = sb.cli_json(&["contracts", "show", id, "--json"]);
        assert_eq!(show["chain"]["ok"], true, "{id}: {show}");
        let outcomes = show["events"]
            .as_array()
            .map(|e| {
                e.iter()
                    .filter(|e| {
                        e["data"]["state"].as_str().is_some_and(|s| {
                            matches!(s, "accepted" | "rejected" | "unanswered" | "undeliverable")
                        })
                    })
                    .count()
            })
            .unwrap_or(0);
        assert_eq!(outcomes, 1, "{id}: exactly one outcome event");
    }
    // At least once delivery: a kill between sending and recording sends again, with the same
    // Message-ID (the idempotency key), so a recipient's client can drop the copy.
    let requests = by_message_id(&sb, "bob", |m| {
        header(m, "Reply-To").is_some_and(|r| r.contains("reply+"))
    });
    let certificates = by_message_id(&sb, "alice", |m| {
        !certmail_e2e::pdf_attachments(m)
            .iter()
            .all(|(name, _)| !name.starts_with("certificate-"))
    });
    let twice = |m: &HashMap<String, usize>| m.values().filter(|c| **c > 1).count();
    eprintln!(
        "chaos: {} request mails for {n} contracts ({} delivered more than once); {} certificate mails ({} more than once)",
        requests.values().sum::<usize>(),
        twice(&requests),
        certificates.values().sum::<usize>(),
        twice(&certificates)
    );
    assert_eq!(requests.len(), n, "a request for every contract");
    assert_eq!(
        certificates.len(),
        n,
        "a certificate mail for every contract"
    );
}
