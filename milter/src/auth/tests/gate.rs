//! The submission gate: aligned DKIM passes, everything else fails with a reason sentence or,
//! for DNS trouble, asks for a retry.

use super::*;
use crate::auth::gate::{verify_aligned, verify_with_key_cache, DkimVerdict};
use crate::auth::resolver::VERIFY_DEADLINE;
use mail_auth::{DnsError, Error as AuthError};
use std::net::SocketAddr;

async fn check(raw: &[u8], allowed: &[&str], cache: &KeyCache) -> DkimVerdict {
    verify_with_key_cache(&offline_resolver(), raw, &domains(allowed), Some(cache)).await
}

fn assert_fail_contains(verdict: &DkimVerdict, needle: &str) {
    match verdict {
        DkimVerdict::Fail { reason } => {
            assert!(
                reason.contains(needle),
                "reason {reason:?} lacks {needle:?}"
            );
            assert_sentence(reason);
        }
        other => panic!("expected Fail containing {needle:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn valid_aligned_signature_passes() {
    let (pkcs8, record) = key_pair();
    let cache = KeyCache::new();
    cache.publish("sel", "example.test", &record);
    let raw = sign(
        &message("alice@example.test"),
        &pkcs8,
        "example.test",
        "sel",
    );

    let verdict = check(raw.as_bytes(), &["Example.TEST"], &cache).await;
    assert_eq!(
        verdict,
        DkimVerdict::Pass {
            domain: "example.test".into(),
            selector: "sel".into()
        }
    );
}

#[tokio::test]
async fn body_modified_after_signing_fails() {
    let (pkcs8, record) = key_pair();
    let cache = KeyCache::new();
    cache.publish("sel", "example.test", &record);
    let raw = sign(
        &message("alice@example.test"),
        &pkcs8,
        "example.test",
        "sel",
    )
    .replace("signed contract", "forged contract");

    let verdict = check(raw.as_bytes(), &["example.test"], &cache).await;
    assert_fail_contains(
        &verdict,
        "DKIM signature d=example.test did not verify: body hash mismatch",
    );
}

#[tokio::test]
async fn header_modified_after_signing_fails() {
    let (pkcs8, record) = key_pair();
    let cache = KeyCache::new();
    cache.publish("sel", "example.test", &record);
    let raw = sign(
        &message("alice@example.test"),
        &pkcs8,
        "example.test",
        "sel",
    )
    .replace("Contract 4711", "Contract 4712");

    let verdict = check(raw.as_bytes(), &["example.test"], &cache).await;
    assert_fail_contains(
        &verdict,
        "did not verify: the header signature does not match",
    );
}

#[tokio::test]
async fn signature_by_other_domain_is_not_aligned() {
    let (pkcs8, record) = key_pair();
    let cache = KeyCache::new();
    cache.publish("sel", "evil.test", &record);
    let raw = sign(&message("alice@example.test"), &pkcs8, "evil.test", "sel");

    let verdict = check(raw.as_bytes(), &["example.test", "evil.test"], &cache).await;
    assert_fail_contains(
        &verdict,
        "DKIM signature d=evil.test is not aligned with From domain example.test",
    );
}

#[tokio::test]
async fn from_domain_not_registered_fails() {
    let (pkcs8, record) = key_pair();
    let cache = KeyCache::new();
    cache.publish("sel", "example.test", &record);
    let raw = sign(
        &message("alice@example.test"),
        &pkcs8,
        "example.test",
        "sel",
    );

    let verdict = check(raw.as_bytes(), &["other.test", "badexample.test"], &cache).await;
    assert_fail_contains(
        &verdict,
        "From domain example.test is not registered for DKIM for this customer",
    );
}

#[tokio::test]
async fn unsigned_message_fails() {
    let cache = KeyCache::new();
    let raw = message("alice@example.test");
    let verdict = check(raw.as_bytes(), &["example.test"], &cache).await;
    assert_fail_contains(&verdict, "the message carries no DKIM signature");
}

#[tokio::test]
async fn malformed_signature_header_fails() {
    let cache = KeyCache::new();
    for header in [
        "DKIM-Signature: v=1; a=rsa-sha512; d=example.test; s=sel; bh=; b=",
        "DKIM-Signature: ;;;",
    ] {
        let raw = format!("{header}\r\n{}", message("alice@example.test"));
        let verdict = check(raw.as_bytes(), &["example.test"], &cache).await;
        assert_fail_contains(&verdict, "DKIM-Signature header could not be");
    }
}

#[tokio::test]
async fn subdomain_from_with_parent_signature_passes() {
    let (pkcs8, record) = key_pair();
    let cache = KeyCache::new();
    cache.publish("sel", "example.test", &record);
    let raw = sign(
        &message("a@mail.example.test"),
        &pkcs8,
        "example.test",
        "sel",
    );

    let verdict = check(raw.as_bytes(), &["example.test"], &cache).await;
    assert_eq!(
        verdict,
        DkimVerdict::Pass {
            domain: "example.test".into(),
            selector: "sel".into()
        }
    );
}

#[tokio::test]
async fn signing_domain_outside_registered_domains_fails() {
    // From mail.example.test is registered, but the signature is by the parent
    // example.test, which the customer has not registered.
    let (pkcs8, record) = key_pair();
    let cache = KeyCache::new();
    cache.publish("sel", "example.test", &record);
    let raw = sign(
        &message("a@mail.example.test"),
        &pkcs8,
        "example.test",
        "sel",
    );

    let verdict = check(raw.as_bytes(), &["mail.example.test"], &cache).await;
    assert_fail_contains(&verdict, "d=example.test is not for a domain registered");
}

#[tokio::test]
async fn aligned_pass_wins_over_unaligned_and_broken_signatures() {
    let (good, good_record) = key_pair();
    let (evil, evil_record) = key_pair();
    let cache = KeyCache::new();
    cache.publish("sel", "example.test", &good_record);
    cache.publish("s2", "evil.test", &evil_record);
    let signed = sign(&message("alice@example.test"), &good, "example.test", "sel");
    let raw = sign(&signed, &evil, "evil.test", "s2");
    let raw = format!("DKIM-Signature: v=1; a=bogus; d=example.test\r\n{raw}");

    let verdict = check(raw.as_bytes(), &["example.test"], &cache).await;
    assert!(matches!(verdict, DkimVerdict::Pass { ref domain, .. } if domain == "example.test"));
}

#[tokio::test]
async fn missing_key_record_fails() {
    let (pkcs8, _) = key_pair();
    let cache = KeyCache::new();
    cache.put(
        "sel",
        "example.test",
        Txt::Error(AuthError::Dns(DnsError::InvalidRecordType)),
    );
    let raw = sign(
        &message("alice@example.test"),
        &pkcs8,
        "example.test",
        "sel",
    );
    let verdict = check(raw.as_bytes(), &["example.test"], &cache).await;
    assert_fail_contains(
        &verdict,
        "did not verify: invalid DKIM key record at sel._domainkey.example.test",
    );
}

#[tokio::test]
async fn wrong_key_fails() {
    let (pkcs8, _) = key_pair();
    let (_, other_record) = key_pair();
    let cache = KeyCache::new();
    cache.publish("sel", "example.test", &other_record);
    let raw = sign(
        &message("alice@example.test"),
        &pkcs8,
        "example.test",
        "sel",
    );
    let verdict = check(raw.as_bytes(), &["example.test"], &cache).await;
    assert_fail_contains(&verdict, "d=example.test did not verify");
}

#[tokio::test]
async fn dns_trouble_is_a_temporary_error() {
    let (pkcs8, _) = key_pair();
    let cache = KeyCache::new();
    cache.put(
        "sel",
        "example.test",
        Txt::Error(AuthError::Dns(DnsError::Resolver(
            "request timed out".into(),
        ))),
    );
    let raw = sign(
        &message("alice@example.test"),
        &pkcs8,
        "example.test",
        "sel",
    );
    match check(raw.as_bytes(), &["example.test"], &cache).await {
        DkimVerdict::TempError { reason } => {
            assert!(reason.contains("sel"), "{reason}");
            assert_sentence(&reason);
        }
        other => panic!("expected TempError, got {other:?}"),
    }
}

#[tokio::test]
async fn unreachable_name_server_is_a_temporary_error() {
    // Nothing listens on the discard port: the real resolver path must give TempError
    // (connection refused / timeout), within the configured bounds.
    let (pkcs8, _) = key_pair();
    let raw = sign(
        &message("alice@example.test"),
        &pkcs8,
        "example.test",
        "sel",
    );
    let started = std::time::Instant::now();
    let verdict = verify_aligned(
        &offline_resolver(),
        raw.as_bytes(),
        &domains(&["example.test"]),
    )
    .await;
    assert!(
        matches!(verdict, DkimVerdict::TempError { .. }),
        "{verdict:?}"
    );
    assert!(started.elapsed() < VERIFY_DEADLINE + Duration::from_secs(1));
}

#[tokio::test]
async fn multiple_or_missing_from_addresses_fail() {
    let cache = KeyCache::new();
    let two = message("alice@example.test").replace(
        "From: Customer <alice@example.test>",
        "From: alice@example.test, bob@example.test",
    );
    let verdict = check(two.as_bytes(), &["example.test"], &cache).await;
    assert_fail_contains(&verdict, "2 From addresses, exactly one is required");

    let none = message("alice@example.test").replace("From: Customer <alice@example.test>\r\n", "");
    let verdict = check(none.as_bytes(), &["example.test"], &cache).await;
    assert_fail_contains(&verdict, "no usable From address");
}

#[tokio::test]
async fn garbage_never_panics() {
    let (pkcs8, record) = key_pair();
    let cache = KeyCache::new();
    cache.publish("sel", "example.test", &record);
    let signed = sign(
        &message("alice@example.test"),
        &pkcs8,
        "example.test",
        "sel",
    );

    let mut inputs: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"\r\n\r\n".to_vec(),
        b"\x00\xff\xfe garbage \x01\x02".to_vec(),
        b"DKIM-Signature: v=1; a=ed25519-sha256; d=; s=; b=; bh=\r\n\r\n".to_vec(),
        b"From: \r\nDKIM-Signature:\r\n\r\n".to_vec(),
        b"From: <@>\r\nDKIM-Signature: v=1\r\n\r\nx".to_vec(),
    ];
    // Deterministic mutations of a genuine signed message (xorshift PRNG).
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..300 {
        let mut bytes = signed.clone().into_bytes();
        for _ in 0..4 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let pos = (state % bytes.len() as u64) as usize;
            bytes[pos] = (state >> 32) as u8;
        }
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.truncate((state % (bytes.len() as u64 + 1)) as usize);
        inputs.push(bytes);
    }

    let resolver = offline_resolver();
    let allowed = domains(&["example.test"]);
    for input in &inputs {
        match verify_with_key_cache(&resolver, input, &allowed, Some(&cache)).await {
            DkimVerdict::Pass { domain, .. } => assert_eq!(domain, "example.test"),
            DkimVerdict::Fail { reason } | DkimVerdict::TempError { reason } => {
                assert_sentence(&reason)
            }
        }
    }
    assert_fail_contains(
        &verify_with_key_cache(&resolver, b"", &allowed, Some(&cache)).await,
        "the message could not be parsed for DKIM",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn verifies_through_real_dns_with_dnsmasq() {
    let Some(binary) = find_dnsmasq() else {
        eprintln!(
            "SKIPPED verifies_through_real_dns_with_dnsmasq: dnsmasq not found on PATH \
             (install the dnsmasq-base package)"
        );
        return;
    };
    let (pkcs8, record) = key_pair();
    let server = start_dnsmasq(
        &binary,
        // No shell, so no quotes: dnsmasq only unquotes in configuration files.
        &[format!("sel._domainkey.example.test,{record}")],
    );
    let resolver =
        Resolver::new(&[SocketAddr::from(([127, 0, 0, 1], server.port))]).expect("resolver");
    let allowed = domains(&["example.test"]);

    let raw = sign(
        &message("alice@example.test"),
        &pkcs8,
        "example.test",
        "sel",
    );
    assert_eq!(
        verify_aligned(&resolver, raw.as_bytes(), &allowed).await,
        DkimVerdict::Pass {
            domain: "example.test".into(),
            selector: "sel".into()
        }
    );

    let tampered = raw.replace("signed contract", "forged contract");
    assert_fail_contains(
        &verify_aligned(&resolver, tampered.as_bytes(), &allowed).await,
        "body hash mismatch",
    );

    // A selector that is not published: NXDOMAIN is a permanent failure.
    let unknown = sign(
        &message("alice@example.test"),
        &pkcs8,
        "example.test",
        "nosel",
    );
    assert_fail_contains(
        &verify_aligned(&resolver, unknown.as_bytes(), &allowed).await,
        "no DKIM key record found at nosel._domainkey.example.test",
    );
    drop(server);
}
