//! Counterparty evidence: DKIM, SPF and DMARC results as lines, header and typed verdicts, for
//! every combination the answers meet, and never a panic or a hang.

use super::*;
use crate::auth::evidence::{authentication_results, with_cache, Arrival};
use crate::auth::resolver::VERIFY_DEADLINE;
use certmail_protocol::{AuthEvidence, AuthOutcome, AuthVerdict};
use mail_auth::dmarc::Dmarc;
use mail_auth::spf::Spf;
use mail_auth::{DnsError, Error as AuthError};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

const SPF_RECORD: &str = "v=spf1 ip4:127.0.0.1 -all";
const DMARC_RECORD: &str = "v=DMARC1; p=reject";
const RECEIVER: &str = "certmail.test";

fn nxdomain() -> Txt {
    Txt::Error(AuthError::Dns(DnsError::RecordNotFound(
        mail_auth::hickory_resolver::proto::op::ResponseCode::NXDomain,
    )))
}

/// A cache publishing, for example.test, the DKIM key `dkim_record` at `sel` (if any),
/// the SPF record [`SPF_RECORD`] (if `spf`, else no SPF record) and the DMARC record
/// [`DMARC_RECORD`]; every other name is NXDOMAIN, so that nothing is left to the
/// (unreachable) resolver.
fn reply_cache(dkim_record: Option<&str>, spf: bool) -> KeyCache {
    let mut cache = KeyCache::new();
    cache.1 = Some(nxdomain());
    if let Some(record) = dkim_record {
        cache.publish("sel", "example.test", record);
    }
    let spf_txt = if spf {
        Txt::from(Spf::parse(SPF_RECORD.as_bytes()).expect("SPF record parses"))
    } else {
        Txt::Error(AuthError::Dns(DnsError::RecordNotFound(
            mail_auth::hickory_resolver::proto::op::ResponseCode::NoError,
        )))
    };
    cache.put_name("example.test.", spf_txt);
    cache.put_name(
        "_dmarc.example.test.",
        Txt::from(Dmarc::parse(DMARC_RECORD.as_bytes()).expect("DMARC record parses")),
    );
    cache
}

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

async fn reply_results(
    raw: &[u8],
    client_ip: Option<IpAddr>,
    helo: Option<&str>,
    mail_from: &str,
    cache: &KeyCache,
) -> AuthEvidence {
    let arrival = arrival(client_ip, helo, mail_from);
    with_cache(&offline_resolver(), raw, &arrival, Some(cache)).await
}

/// An answer that arrived from `client_ip` at [`RECEIVER`].
fn arrival<'a>(
    client_ip: Option<IpAddr>,
    helo: Option<&'a str>,
    mail_from: &'a str,
) -> Arrival<'a> {
    Arrival {
        client_ip,
        helo,
        mail_from,
        receiver_host: RECEIVER,
    }
}

fn assert_results_well_formed(results: &AuthEvidence) {
    assert!(!results.dkim.is_empty(), "{results:?}");
    for line in results.dkim.iter().chain([&results.spf, &results.dmarc]) {
        assert_sentence(line);
    }
    assert!(
        results.header.starts_with(&format!("{RECEIVER};")),
        "{results:?}"
    );
    assert!(!results.header.ends_with('\n'), "{results:?}");
}

#[tokio::test]
async fn reply_all_checks_pass() {
    let (pkcs8, record) = key_pair();
    let cache = reply_cache(Some(&record), true);
    let raw = sign(
        &message("alice@example.test"),
        &pkcs8,
        "example.test",
        "sel",
    );

    let results = reply_results(
        raw.as_bytes(),
        Some(LOCALHOST),
        Some("mx.example.test"),
        "<Bob@example.test>",
        &cache,
    )
    .await;
    assert_eq!(
        results.dkim,
        vec!["pass (d=example.test s=sel)".to_string()]
    );
    assert_eq!(results.spf, "pass (mailfrom=Bob@example.test ip=127.0.0.1)");
    assert_eq!(results.dmarc, "pass (p=reject, from=example.test)");
    assert_eq!(
        results.verdict,
        AuthVerdict {
            from_domain: Some("example.test".into()),
            dmarc: AuthOutcome::Pass,
            spf: AuthOutcome::Pass,
            dkim_pass: vec!["example.test".into()],
        }
    );
    for needle in [
        "dkim=pass header.d=example.test header.s=sel",
        "spf=pass",
        "smtp.mailfrom=Bob@example.test",
        "dmarc=pass header.from=example.test policy.dmarc=reject",
    ] {
        assert!(
            results.header.contains(needle),
            "{needle}: {}",
            results.header
        );
    }
    assert_results_well_formed(&results);

    // The evidence survives a serde round trip.
    let text = toml::to_string(&results).expect("serialize");
    assert_eq!(
        toml::from_str::<AuthEvidence>(&text).expect("parse"),
        results
    );
}

#[tokio::test]
async fn reply_aligned_dkim_passes_dmarc_despite_spf_fail() {
    let (pkcs8, record) = key_pair();
    let cache = reply_cache(Some(&record), true);
    let raw = sign(
        &message("alice@example.test"),
        &pkcs8,
        "example.test",
        "sel",
    );
    let other_ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

    let results = reply_results(
        raw.as_bytes(),
        Some(other_ip),
        Some("mx.example.test"),
        "bob@example.test",
        &cache,
    )
    .await;
    assert_eq!(
        results.dkim,
        vec!["pass (d=example.test s=sel)".to_string()]
    );
    assert_eq!(results.spf, "fail (mailfrom=bob@example.test ip=127.0.0.2)");
    assert_eq!(results.dmarc, "pass (p=reject, from=example.test)");
    assert_eq!(
        (results.verdict.dmarc, results.verdict.spf),
        (AuthOutcome::Pass, AuthOutcome::Fail)
    );
    assert_eq!(results.verdict.dkim_pass, vec!["example.test".to_string()]);
    assert!(results.header.contains("spf=fail"), "{}", results.header);
    assert_results_well_formed(&results);

    // The other way round: a broken signature, but aligned SPF passes DMARC.
    let tampered = raw.replace("signed contract", "forged contract");
    let results = reply_results(
        tampered.as_bytes(),
        Some(LOCALHOST),
        None,
        "bob@example.test",
        &cache,
    )
    .await;
    assert_eq!(
        results.dkim,
        vec!["neutral (d=example.test s=sel: body hash mismatch)".to_string()]
    );
    assert_eq!(results.spf, "pass (mailfrom=bob@example.test ip=127.0.0.1)");
    assert_eq!(results.dmarc, "pass (p=reject, from=example.test)");
    assert!(
        results.header.contains("dkim=neutral"),
        "{}",
        results.header
    );
    assert_results_well_formed(&results);
}

#[tokio::test]
async fn reply_without_signature_or_spf_record_fails_dmarc() {
    let cache = reply_cache(None, false);
    let raw = message("alice@example.test");

    let results = reply_results(
        raw.as_bytes(),
        Some(LOCALHOST),
        Some("mx.example.test"),
        "bob@example.test",
        &cache,
    )
    .await;
    assert_eq!(results.dkim, vec!["none".to_string()]);
    assert_eq!(results.spf, "none (mailfrom=bob@example.test ip=127.0.0.1)");
    // A DMARC record exists but nothing aligned passed: mail-auth reports fail.
    assert_eq!(results.dmarc, "fail (p=reject, from=example.test)");
    assert_eq!(
        (results.verdict.dmarc, results.verdict.spf),
        (AuthOutcome::Fail, AuthOutcome::None)
    );
    assert!(results.verdict.dkim_pass.is_empty());
    assert!(!results.header.contains("dkim="), "{}", results.header);
    assert!(results.header.contains("spf=none"), "{}", results.header);
    assert!(results.header.contains("dmarc=fail"), "{}", results.header);
    assert_results_well_formed(&results);
}

#[tokio::test]
async fn reply_unparseable_message_is_reported() {
    let cache = reply_cache(None, true);
    for raw in [&b""[..], b"\r\n\r\nbody only"] {
        let results = reply_results(raw, Some(LOCALHOST), None, "bob@example.test", &cache).await;
        assert_eq!(
            results.dkim,
            vec!["permerror (the message could not be parsed)".to_string()]
        );
        assert_eq!(results.dmarc, "permerror (the message could not be parsed)");
        assert_eq!(results.verdict.dmarc, AuthOutcome::PermError);
        // SPF depends on the envelope only.
        assert_eq!(results.spf, "pass (mailfrom=bob@example.test ip=127.0.0.1)");
        assert!(
            results.header.contains("dkim=permerror (no headers found)"),
            "{}",
            results.header
        );
        assert_results_well_formed(&results);
    }
}

#[tokio::test]
async fn reply_null_sender_uses_helo_and_missing_client_address() {
    let (pkcs8, record) = key_pair();
    let cache = reply_cache(Some(&record), true);
    let raw = sign(
        &message("alice@example.test"),
        &pkcs8,
        "example.test",
        "sel",
    );

    let results = reply_results(
        raw.as_bytes(),
        Some(LOCALHOST),
        Some("Example.TEST"),
        "<>",
        &cache,
    )
    .await;
    assert_eq!(results.spf, "pass (helo=example.test ip=127.0.0.1)");
    assert!(
        results.header.contains("smtp.helo=example.test"),
        "{}",
        results.header
    );
    assert_eq!(results.dmarc, "pass (p=reject, from=example.test)");

    let results = reply_results(raw.as_bytes(), None, Some("example.test"), "", &cache).await;
    assert_eq!(results.spf, "none (no client address)");
    assert!(!results.header.contains("spf="), "{}", results.header);
    assert_eq!(
        results.dkim,
        vec!["pass (d=example.test s=sel)".to_string()]
    );
    assert_eq!(results.dmarc, "pass (p=reject, from=example.test)");

    let results = reply_results(raw.as_bytes(), Some(LOCALHOST), None, "<>", &cache).await;
    assert_eq!(
        results.spf,
        "none (neither a MAIL FROM nor a HELO identity)"
    );
    assert_results_well_formed(&results);
}

#[tokio::test]
async fn reply_dns_trouble_is_temperror_within_the_deadline() {
    // No cache, and nothing listens at the configured name server.
    let (pkcs8, _) = key_pair();
    let raw = sign(
        &message("alice@example.test"),
        &pkcs8,
        "example.test",
        "sel",
    );
    let started = std::time::Instant::now();
    let results = authentication_results(
        &offline_resolver(),
        raw.as_bytes(),
        &arrival(Some(LOCALHOST), Some("mx.example.test"), "bob@example.test"),
    )
    .await;
    assert!(started.elapsed() < VERIFY_DEADLINE + Duration::from_secs(1));
    assert_eq!(results.dkim.len(), 1);
    // Each is a DNS error, or (on a very slow machine) the shared deadline.
    assert!(results.dkim[0].starts_with("temperror ("), "{results:?}");
    assert!(
        results
            .spf
            .starts_with("temperror (mailfrom=bob@example.test ip=127.0.0.1"),
        "{results:?}"
    );
    assert!(
        results.dmarc.starts_with("temperror (from=example.test: "),
        "{results:?}"
    );
    assert_eq!(results.verdict.dmarc, AuthOutcome::TempError);
    assert_eq!(results.verdict.spf, AuthOutcome::TempError);
    assert!(
        results.header.contains("dmarc=temperror"),
        "{}",
        results.header
    );
    assert_results_well_formed(&results);
}

#[tokio::test]
async fn reply_garbage_never_panics() {
    let (pkcs8, record) = key_pair();
    let cache = reply_cache(Some(&record), true);
    let signed = sign(
        &message("alice@example.test"),
        &pkcs8,
        "example.test",
        "sel",
    );
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let resolver = offline_resolver();
    for round in 0..60 {
        let mut bytes = signed.clone().into_bytes();
        for _ in 0..6 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let pos = (state % bytes.len() as u64) as usize;
            bytes[pos] = (state >> 32) as u8;
        }
        let mail_from = ["<>", "bob@example.test", "\r\n<x@\u{e9}.test>", "@"][round % 4];
        let helo = [
            None,
            Some("[127.0.0.1]"),
            Some("a\r\nb"),
            Some("mx.example.test"),
        ][round % 4];
        let arrival = arrival(Some(LOCALHOST), helo, mail_from);
        let results = with_cache(&resolver, &bytes, &arrival, Some(&cache)).await;
        assert_results_well_formed(&results);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn reply_results_through_real_dns_with_dnsmasq() {
    let Some(binary) = find_dnsmasq() else {
        eprintln!(
            "SKIPPED reply_results_through_real_dns_with_dnsmasq: dnsmasq not found on PATH \
             (install the dnsmasq-base package)"
        );
        return;
    };
    let (pkcs8, record) = key_pair();
    let server = start_dnsmasq(
        &binary,
        &[
            format!("sel._domainkey.example.test,{record}"),
            format!("example.test,{SPF_RECORD}"),
            format!("_dmarc.example.test,{DMARC_RECORD}"),
        ],
    );
    let resolver =
        Resolver::new(&[SocketAddr::from(([127, 0, 0, 1], server.port))]).expect("resolver");
    let raw = sign(
        &message("alice@example.test"),
        &pkcs8,
        "example.test",
        "sel",
    );

    let results = authentication_results(
        &resolver,
        raw.as_bytes(),
        &arrival(
            Some(LOCALHOST),
            Some("mx.example.test"),
            "<bob@example.test>",
        ),
    )
    .await;
    assert_eq!(
        results.dkim,
        vec!["pass (d=example.test s=sel)".to_string()]
    );
    assert_eq!(results.spf, "pass (mailfrom=bob@example.test ip=127.0.0.1)");
    assert_eq!(results.dmarc, "pass (p=reject, from=example.test)");
    assert_results_well_formed(&results);

    // Unsigned, from a foreign address, sender domain without SPF record (NXDOMAIN).
    let results = authentication_results(
        &resolver,
        message("alice@example.test").as_bytes(),
        &arrival(
            Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))),
            Some("mx.example.test"),
            "bob@nospf.example.test",
        ),
    )
    .await;
    assert_eq!(results.dkim, vec!["none".to_string()]);
    assert_eq!(
        results.spf,
        "none (mailfrom=bob@nospf.example.test ip=127.0.0.2)"
    );
    assert_eq!(results.dmarc, "fail (p=reject, from=example.test)");
    assert_results_well_formed(&results);
    drop(server);
}
