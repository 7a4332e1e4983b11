//! A database written by an older certd (schema v5, commit 7468183: a contract in every state
//! that can be stored, SMS included) opens with this certd, migrates, and keeps every hash
//! chain intact. The fixture and how it was made: `tests/fixtures/store-v5/`.

use certd::evidence::EventData;
use certd::store::{ListFilter, Store};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn fixture_copy(dir: &Path) -> std::path::PathBuf {
    let src =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/store-v5/certd-v5.sqlite");
    let dst = dir.join("certd.sqlite");
    std::fs::copy(&src, &dst).expect("copy the v5 fixture");
    std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    dst
}

#[test]
fn a_v5_database_migrates_and_every_chain_still_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = fixture_copy(dir.path());
    let store = Store::open(&path).expect("the v5 database opens and migrates");
    let contracts = store
        .list_contracts(&ListFilter::default())
        .expect("list contracts");
    let mut states: Vec<&str> = contracts.iter().map(|c| c.state.as_str()).collect();
    states.sort_unstable();
    assert_eq!(
        states,
        [
            "accepted",
            "accepted",
            "not_delivered",
            "rejected",
            "requested",
            "unanswered"
        ]
    );
    for c in &contracts {
        let events = store
            .verify_chain(&c.id)
            .expect("read the chain")
            .unwrap_or_else(|e| panic!("contract {} ({}): {e}", c.serial, c.state));
        assert!(events >= 2, "contract {} has {events} events", c.serial);
    }
    drop(store);
    // Opening again (already migrated) changes nothing.
    let again = Store::open(&path).expect("reopen");
    for c in &contracts {
        assert!(again.verify_chain(&c.id).expect("chain").is_ok());
    }
}

fn fixture(dir: &Path, name: &str) -> std::path::PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(name);
    let dst = dir.join("certd.sqlite");
    std::fs::copy(&src, &dst).expect("copy the fixture");
    std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    dst
}

/// Every event of the fixture as the typed model reads it; none is left untyped.
fn typed_events(store: &Store) -> Vec<(String, certd::store::EventRow)> {
    let mut out = Vec::new();
    for c in store.list_contracts(&ListFilter::default()).expect("list") {
        assert!(
            store.verify_chain(&c.id).expect("chain").is_ok(),
            "contract {}",
            c.serial
        );
        for e in store.events(&c.id).expect("events") {
            assert!(
                !matches!(e.data, EventData::Other { .. }),
                "contract {} event {} ({}) is not typed: {}",
                c.id,
                e.seq,
                e.kind,
                e.text
            );
            out.push((c.id.clone(), e));
        }
    }
    out
}

/// The typed evidence model reads every event that the release before it wrote (schema v7,
/// commit 8abe397: every state, SMS, foreign, automatic and late answers, an admin resend),
/// and writes each back as the very text that was hashed: the model and the stored format are
/// one.
#[test]
fn the_typed_model_reads_and_rewrites_every_event_of_the_previous_release() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&fixture(dir.path(), "store-v7/certd-v7.sqlite")).expect("open");
    let events = typed_events(&store);
    let mut kinds: Vec<&str> = events.iter().map(|(_, e)| e.kind.as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    for kind in [
        "submitted",
        "requested",
        "reply",
        "reply_noted",
        "reply_ignored",
        "bounce",
        "deadline",
        "sms_dlr",
        "sms_request_sent",
        "sms_clarification_sent",
        "certificate_issued",
        "certificate_resend",
    ] {
        assert!(kinds.contains(&kind), "the fixture has no {kind} event");
    }
    for (id, e) in &events {
        assert_eq!(e.data.kind(), e.kind, "contract {id} event {}", e.seq);
        assert_eq!(
            e.data.to_json(),
            e.text,
            "contract {id} event {} ({}) is written back differently",
            e.seq,
            e.kind
        );
    }
}

/// Events written before answers were screened (schema v5) read as typed evidence too.
#[test]
fn events_of_a_v5_database_read_typed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&fixture(dir.path(), "store-v5/certd-v5.sqlite")).expect("open");
    assert!(typed_events(&store).len() > 40);
}
