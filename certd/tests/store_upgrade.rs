//! A database written by an older certd (schema v5, commit 7468183: a contract in every state
//! that can be stored, SMS included) opens with this certd, migrates, and keeps every hash
//! chain intact. The fixture and how it was made: `tests/fixtures/store-v5/`.

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
