//! The milter driven in-process through the milter protocol (indymilter-test plays the MTA),
//! against a fake certd on a real Unix socket speaking the real wire protocol.

use certmail_protocol::{
    read_frame, write_frame, Committed, CustomerInfo, CustomerPolicy, Limits, Request, Response,
};
use certmilter::auth::Resolver;
use certmilter::client::CertdClient;
use certmilter::config::Config;
use certmilter::session::{callbacks, Milter};
use indymilter_test::{MacroStage, Status, TestConnection};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// A certd stand-in: answers look-ups for `alice` and commits every submission.
fn fake_certd(path: &Path) -> Arc<Mutex<Vec<Request>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let listener = UnixListener::bind(path).expect("bind fake certd");
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let Ok(req) = read_frame::<_, Request>(&mut conn, 1 << 26) else {
                continue;
            };
            let resp = match &req {
                Request::Ping => Response::Pong,
                Request::LookupCustomer { name } if name == "alice" => {
                    Response::Customer(Some(CustomerInfo {
                        name: name.clone(),
                        active: true,
                        policy: CustomerPolicy::SmtpAuth,
                        smtp_logins: vec!["alice".into()],
                        dkim_domains: vec![],
                        email: Some("alice@example.test".into()),
                        phones: vec!["+34600999888".into()],
                    }))
                }
                Request::LookupCustomer { .. } => Response::Customer(None),
                Request::LookupToken { .. } => Response::Token(None),
                Request::Limits => Response::Limits(Limits::default()),
                Request::Submit(_) | Request::Answer(_) => Response::Committed(Committed {
                    contract_id: "c0ffee".into(),
                    serial: 42,
                    duplicate: false,
                }),
            };
            log.lock().expect("log").push(req);
            let _ = write_frame(&mut conn, &resp);
        }
    });
    seen
}

struct Harness {
    _dir: tempfile::TempDir,
    milter_sock: PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
    }
}

async fn start(extra_config: &str, certd_sock: Option<&Path>) -> Harness {
    let dir = tempfile::tempdir().expect("tempdir");
    let certd = certd_sock
        .map(Path::to_path_buf)
        .unwrap_or_else(|| dir.path().join("absent.sock"));
    let milter_sock = dir.path().join("milter.sock");
    let config = Config::parse(&format!(
        "socket = 'unix:{}'\ncertd_socket = '{}'\ncontract_domains = ['contract.test']\n{extra_config}",
        milter_sock.display(),
        certd.display()
    ))
    .expect("config");
    let certd = CertdClient {
        path: config.certd_socket.clone(),
        timeout: Duration::from_secs(5),
    };
    let resolver = Resolver::new(&["127.0.0.1:9".parse().expect("addr")]).expect("resolver");
    let region = config.region().expect("region");
    let milter = Arc::new(Milter::new(config, certd, resolver, region));
    let listener = tokio::net::UnixListener::bind(&milter_sock).expect("bind milter");
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(indymilter::run(
        listener,
        callbacks(milter),
        Default::default(),
        async {
            let _ = rx.await;
        },
    ));
    Harness {
        _dir: dir,
        milter_sock,
        shutdown: Some(tx),
    }
}

async fn open(h: &Harness) -> TestConnection {
    let mut conn = TestConnection::configure()
        .open_unix(&h.milter_sock)
        .await
        .expect("open milter connection");
    let _ = conn
        .connect("client.example.test", ([127, 0, 0, 1], 4711))
        .await
        .expect("connect");
    let _ = conn.helo("client.example.test").await.expect("helo");
    conn
}

async fn login(conn: &mut TestConnection, user: &str) {
    conn.macros(
        MacroStage::Mail,
        [("{auth_authen}", user), ("{auth_type}", "PLAIN")],
    )
    .await
    .expect("macros");
}

fn message_of(status: &Status) -> String {
    match status {
        Status::Reject { message } | Status::Tempfail { message } => message
            .as_ref()
            .map(|m| m.to_string_lossy().into_owned())
            .unwrap_or_default(),
        other => format!("{other:?}"),
    }
}

#[tokio::test]
async fn ordinary_mail_is_accepted_at_data_without_certd() {
    let h = start("", None).await;
    let mut conn = open(&h).await;
    // MAIL is never refused: certmilter negotiates NOREPLY for it.
    assert_eq!(
        conn.mail(["<a@elsewhere.test>"]).await.unwrap(),
        Status::Noreply
    );
    assert_eq!(
        conn.rcpt(["<bob@example.test>"]).await.unwrap(),
        Status::Continue
    );
    assert_eq!(conn.data().await.unwrap(), Status::Accept);
    conn.close().await.unwrap();
}

#[tokio::test]
async fn contract_mail_is_handed_over_then_discarded() {
    let dir = tempfile::tempdir().unwrap();
    let certd = dir.path().join("certd.sock");
    let seen = fake_certd(&certd);
    let h = start("", Some(&certd)).await;
    let mut conn = open(&h).await;
    login(&mut conn, "alice").await;
    conn.mail(["<alice@example.test>"]).await.unwrap();
    assert_eq!(
        conn.rcpt(["<alice@contract.test>"]).await.unwrap(),
        Status::Continue
    );
    assert_eq!(
        conn.rcpt(["<carol@example.test>"]).await.unwrap(),
        Status::Continue
    );
    assert_eq!(conn.data().await.unwrap(), Status::Continue);
    for (k, v) in [
        ("From", "alice@example.test"),
        ("Subject", "=?UTF-8?B?Ym9iQGV4YW1wbGUudGVzdCDlpZHntIQ=?="),
        ("Message-ID", "<m1@example.test>"),
    ] {
        assert_eq!(conn.header(k, v).await.unwrap(), Status::Continue);
    }
    conn.eoh().await.unwrap();
    conn.body("Contract text.\r\n").await.unwrap();
    let (actions, status) = conn.eom().await.unwrap();
    // Mixed mail: the contract recipient is removed, carol's copy goes on untouched.
    assert_eq!(status, Status::Accept);
    assert!(actions.has_delete_recipient("<alice@contract.test>"));
    conn.close().await.unwrap();

    let seen = seen.lock().unwrap();
    let Some(Request::Submit(s)) = seen.last() else {
        panic!("no submission: {seen:?}")
    };
    assert_eq!(s.customer, "alice");
    assert_eq!(s.subject, "bob@example.test 契約");
    assert_eq!(s.subject_text, "契約");
    assert_eq!(s.client_addr.as_deref(), Some("127.0.0.1"));
    assert_eq!(s.helo.as_deref(), Some("client.example.test"));
    assert!(
        s.raw.starts_with(b"From: alice@example.test\r\n"),
        "{:?}",
        String::from_utf8_lossy(&s.raw)
    );
    assert_eq!(s.dedupe_key.len(), 64);
}

#[tokio::test]
async fn bad_recipients_get_precise_replies() {
    let dir = tempfile::tempdir().unwrap();
    let certd = dir.path().join("certd.sock");
    let _seen = fake_certd(&certd);
    let h = start("", Some(&certd)).await;
    let mut conn = open(&h).await;
    login(&mut conn, "alice").await;
    conn.mail(["<alice@example.test>"]).await.unwrap();
    let s = conn.rcpt(["<zed@contract.test>"]).await.unwrap();
    assert!(message_of(&s).starts_with("550 5.7.1"), "{s:?}");
    let s = conn.rcpt(["<reply+abc@contract.test>"]).await.unwrap();
    assert!(message_of(&s).starts_with("550 5.1.1"), "{s:?}");
    assert_eq!(
        conn.rcpt(["<alice@contract.test>"]).await.unwrap(),
        Status::Continue
    );
    // Another customer in the same message: try again in a separate transaction.
    let s = conn.rcpt(["<bob@contract.test>"]).await.unwrap();
    assert!(message_of(&s).starts_with("452 4.5.3"), "{s:?}");
    conn.close().await.unwrap();
}

#[tokio::test]
async fn certd_unreachable_tempfails() {
    let h = start("", None).await;
    let mut conn = open(&h).await;
    login(&mut conn, "alice").await;
    conn.mail(["<alice@example.test>"]).await.unwrap();
    let s = conn.rcpt(["<alice@contract.test>"]).await.unwrap();
    assert!(message_of(&s).starts_with("451 4.3.0"), "{s:?}");
    conn.close().await.unwrap();
}

#[tokio::test]
async fn oversized_contract_is_refused_while_it_streams() {
    let dir = tempfile::tempdir().unwrap();
    let certd = dir.path().join("certd.sock");
    let _seen = fake_certd(&certd);
    let h = start("max_message_size = 2000", Some(&certd)).await;
    let mut conn = open(&h).await;
    login(&mut conn, "alice").await;
    conn.mail(["<alice@example.test>"]).await.unwrap();
    conn.rcpt(["<alice@contract.test>"]).await.unwrap();
    conn.data().await.unwrap();
    conn.header("Subject", " bob@example.test x").await.unwrap();
    conn.eoh().await.unwrap();
    let s = conn.body(vec![b'x'; 3000]).await.unwrap();
    assert!(message_of(&s).starts_with("552 5.3.4"), "{s:?}");
}

/// One contract from alice through the whole milter conversation; the EOM status.
async fn submit_contract(h: &Harness, headers: &[(&str, &str)], body: &str) -> Status {
    let mut conn = open(h).await;
    login(&mut conn, "alice").await;
    conn.mail(["<alice@example.test>"]).await.unwrap();
    assert_eq!(
        conn.rcpt(["<alice@contract.test>"]).await.unwrap(),
        Status::Continue
    );
    assert_eq!(conn.data().await.unwrap(), Status::Continue);
    for (k, v) in headers {
        let s = conn.header(*k, *v).await.unwrap();
        if s != Status::Continue {
            return s;
        }
    }
    conn.eoh().await.unwrap();
    let s = conn.body(body.to_string()).await.unwrap();
    if s != Status::Continue {
        return s;
    }
    let (_, status) = conn.eom().await.unwrap();
    conn.close().await.unwrap();
    status
}

fn submissions(seen: &Arc<Mutex<Vec<Request>>>) -> usize {
    seen.lock()
        .unwrap()
        .iter()
        .filter(|r| matches!(r, Request::Submit(_)))
        .count()
}

#[tokio::test]
async fn the_service_and_the_customer_itself_are_no_counterparty() {
    let dir = tempfile::tempdir().unwrap();
    let certd = dir.path().join("certd.sock");
    let seen = fake_certd(&certd);
    let h = start("", Some(&certd)).await;
    for (subject, why) in [
        (
            "bob@example.test bob@CONTRACT.Test Contract",
            "contract service itself",
        ),
        (
            "reply+abcdef@contract.test Contract",
            "contract service itself",
        ),
        ("Alice@Example.TEST Contract", "your own address"),
        ("alice+me@example.test Contract", "your own address"),
        ("+34 600 999 888 Contract", "your own phone number"),
    ] {
        let s = submit_contract(
            &h,
            &[("From", "alice@example.test"), ("Subject", subject)],
            "Terms.\r\n",
        )
        .await;
        let m = message_of(&s);
        assert!(m.starts_with("550 5.1.3 "), "{subject}: {m}");
        assert!(m.contains(why), "{subject}: {m}");
    }
    // The From: address counts as the customer's own.
    let s = submit_contract(
        &h,
        &[
            ("From", "Legal <legal@acme.example>"),
            ("Subject", "legal@acme.example x"),
        ],
        "Terms.\r\n",
    )
    .await;
    assert!(message_of(&s).contains("your own address"), "{s:?}");
    assert_eq!(submissions(&seen), 0);
    // A real counterparty still passes.
    let s = submit_contract(
        &h,
        &[
            ("From", "alice@example.test"),
            ("Subject", "bob@example.test x"),
        ],
        "Terms.\r\n",
    )
    .await;
    assert_eq!(s, Status::Discard);
    assert_eq!(submissions(&seen), 1);
}

#[tokio::test]
async fn a_thousand_character_address_gets_its_reason_on_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let certd = dir.path().join("certd.sock");
    let _seen = fake_certd(&certd);
    let h = start("", Some(&certd)).await;
    let mut conn = open(&h).await;
    login(&mut conn, "alice").await;
    conn.mail(["<alice@example.test>"]).await.unwrap();
    let long = format!("<{}@contract.test>", "z".repeat(1000));
    let s = conn.rcpt([long.as_str()]).await.unwrap();
    let m = message_of(&s);
    assert!(m.starts_with("550 5.7.1 <zzz"), "{m}");
    assert!(
        m.ends_with("@contract.test> is not a certmail customer address"),
        "{m}"
    );
    assert!(m.len() + 2 <= 512, "{} octets", m.len());
    conn.close().await.unwrap();
}

#[tokio::test]
async fn subject_rules_two_fields_length_and_line_breaks() {
    let dir = tempfile::tempdir().unwrap();
    let certd = dir.path().join("certd.sock");
    let seen = fake_certd(&certd);
    let h = start("", Some(&certd)).await;
    let s = submit_contract(
        &h,
        &[
            ("From", "alice@example.test"),
            ("Subject", "bob@example.test Contract"),
            ("Subject", "carol@example.test Contract"),
        ],
        "Terms.\r\n",
    )
    .await;
    assert_eq!(
        message_of(&s),
        "550 5.6.0 The message has 2 Subject fields; RFC 5322 allows one"
    );
    let long = format!("bob@example.test {}", "x".repeat(20_000));
    let s = submit_contract(
        &h,
        &[("From", "alice@example.test"), ("Subject", &long)],
        "Terms.\r\n",
    )
    .await;
    let m = message_of(&s);
    assert!(
        m.starts_with(
            "550 5.6.0 the Subject is 20017 characters long; certmail accepts at most 998"
        ),
        "{m}"
    );
    assert_eq!(submissions(&seen), 0);
    let s = submit_contract(
        &h,
        &[
            ("From", "alice@example.test"),
            (
                "Subject",
                "=?UTF-8?Q?bob@example.test_Contrato=0D=0ABcc:_x@evil.test?=",
            ),
        ],
        "Terms.\r\n",
    )
    .await;
    assert_eq!(s, Status::Discard);
    let seen = seen.lock().unwrap();
    let Some(Request::Submit(sub)) = seen.last() else {
        panic!("no submission")
    };
    assert_eq!(sub.subject, "bob@example.test Contrato Bcc: x@evil.test");
    assert_eq!(sub.subject_text, "Contrato Bcc: x@evil.test");
}
