//! Crash safety: certd is killed with SIGKILL again and again while contracts are submitted,
//! requested and answered through real Postfix. Afterwards every contract exists once, has
//! exactly one outcome and an intact hash chain, and duplicate request mails are counted.

use certmail_e2e::{header, mime_message, read_maildir, send_until_accepted, Sandbox};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CONTRACTS: usize = 40;

#[test]
fn sigkill_at_random_moments_loses_nothing_and_decides_once() {
    let sb = Arc::new(Sandbox::up("crash"));
    let port = sb.smtp_port();
    let password = sb.get("CUSTOMER_PASSWORD").to_string();

    // The killer: SIGKILL certd every 50-350 ms, restart it, for as long as work goes on.
    let stop = Arc::new(AtomicBool::new(false));
    let kills = {
        let (sb, stop) = (Arc::clone(&sb), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut n = 0u32;
            let mut x = certmail_e2e::rand_u64() | 1;
            while !stop.load(Ordering::SeqCst) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                std::thread::sleep(Duration::from_millis(50 + x % 300));
                sb.kill9("certd");
                sb.service("start", "certd");
                n += 1;
            }
            n
        })
    };

    // Submit the contracts while certd keeps dying.
    for i in 0..CONTRACTS {
        let msg = mime_message(
            "alice@example.test",
            "alice@contract.test",
            &format!("bob@example.test Crash contract {i}"),
            &format!("Contract number {i}."),
            &[],
        );
        send_until_accepted(
            port,
            Some(("alice", &password)),
            "alice@example.test",
            "alice@contract.test",
            &msg,
        );
    }

    // Bob answers every request he receives (even-numbered: accept, odd: reject).
    let mut answered: HashSet<String> = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(180);
    while answered.len() < CONTRACTS && Instant::now() < deadline {
        for request in read_maildir(&sb.maildir("bob")) {
            let (Some(reply_to), Some(subject)) =
                (header(&request, "Reply-To"), header(&request, "Subject"))
            else {
                continue;
            };
            if !answered.insert(reply_to.clone()) {
                continue;
            }
            let i: usize = subject
                .rsplit(' ')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let words = if i.is_multiple_of(2) {
                "ACCEPT"
            } else {
                "REJECT"
            };
            let msg = mime_message("bob@example.test", &reply_to, "Re: contract", words, &[]);
            send_until_accepted(port, None, "bob@example.test", &reply_to, &msg);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, Ordering::SeqCst);
    let kills = kills.join().expect("killer thread");
    sb.service("start", "certd");

    // Let certd finish what is left, then check every contract.
    let deadline = Instant::now() + Duration::from_secs(120);
    let contracts = loop {
        let list = sb.contracts();
        let done = list
            .iter()
            .all(|c| c["state"] == "accepted" || c["state"] == "rejected");
        if (list.len() == CONTRACTS && done) || Instant::now() > deadline {
            break list;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(
        contracts.len(),
        CONTRACTS,
        "every submission stored exactly once"
    );
    let mut outcomes: HashMap<String, usize> = HashMap::new();
    for c in &contracts {
        let id = c["id"].as_str().unwrap_or_default();
        let show = sb.cli_json(&["contracts", "show", id, "--json"]);
        assert_eq!(show["chain"]["ok"], true, "{show}");
        let subject = show["contract"]["subject_text"]
            .as_str()
            .unwrap_or_default();
        let i: usize = subject
            .rsplit(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(usize::MAX);
        let want = if i.is_multiple_of(2) {
            "accepted"
        } else {
            "rejected"
        };
        assert_eq!(c["state"], want, "contract {i}: {show}");
        let decisive = show["events"]
            .as_array()
            .map(|e| e.iter().filter(|e| e["kind"] == "reply").count())
            .unwrap_or(0);
        assert_eq!(decisive, 1, "exactly one deciding reply for contract {i}");
        *outcomes.entry(want.to_string()).or_default() += 1;
    }
    // Requests per contract: at least one each; duplicates only where a crash fell between
    // the SMTP 250 and the outbox commit (at-least-once). Counted and reported.
    let mut per_contract: HashMap<String, usize> = HashMap::new();
    for m in read_maildir(&sb.maildir("bob")) {
        if let Some(r) = header(&m, "Reply-To") {
            *per_contract.entry(r).or_default() += 1;
        }
    }
    let duplicates: usize = per_contract.values().map(|n| n - 1).sum();
    assert_eq!(per_contract.len(), CONTRACTS);
    eprintln!(
        "crash test: {kills} SIGKILLs, {CONTRACTS} contracts, outcomes {outcomes:?}, duplicate request mails {duplicates}"
    );
    assert!(
        duplicates <= kills as usize,
        "more duplicate requests ({duplicates}) than crashes ({kills})"
    );
}
