//! Two certd nodes sharing one PostgreSQL store (`SANDBOX_NODES=2`): each with its own Postfix
//! contract listener, certmilter, SMS callback and outbox. A contract submitted on node 1 is
//! answered through node 2 (by email on its listener, by SMS on its callback) and certified once.

use certmail_e2e::{answer_request, code_from_request, Sandbox};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(60);
const BOB_PHONE: &str = "+34600111222";

/// Bob's phone answers, as a gateway configured with node 2's callback delivers it.
fn mo_to_node2(sb: &Sandbox, text: &str) {
    let secret =
        std::fs::read_to_string(Path::new(sb.get("SANDBOX_DIR")).join("sms/callback.secret"))
            .expect("callback secret");
    let auth = data_encoding::BASE64.encode(format!("gateway:{}", secret.trim()).as_bytes());
    let body = format!(
        "from=%2B34600111222&to=22123&text={}&id=node2-mo",
        text.replace(' ', "+")
    );
    let mut s = TcpStream::connect(("127.0.0.1", sb.port("NODE2_SMS_CALLBACK_PORT")))
        .expect("connect to node 2's callback");
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    write!(
        s,
        "POST /mo HTTP/1.1\r\nHost: certd\r\nAuthorization: Basic {auth}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer:?}");
}

/// The code in the request SMS bob's phone received.
fn sms_code(sb: &Sandbox) -> String {
    let got = sb.wait_for_sms(BOB_PHONE, 1, WAIT);
    let sms = got
        .first()
        .unwrap_or_else(|| panic!("no request SMS; certd log:\n{}", sb.log("certd.log")));
    code_from_request(sms)
}

fn nodes_of(sb: &Sandbox, id: &str, kind: &str) -> Vec<String> {
    sb.sql_column(&format!(
        "SELECT node FROM events WHERE contract_id = '{id}' AND kind = '{kind}' ORDER BY seq"
    ))
}

#[test]
fn a_contract_of_node_1_is_answered_through_node_2_and_certified_once() {
    let sb = Sandbox::up_with(
        "nodes",
        &[("SANDBOX_NODES", "2"), ("SANDBOX_STORE", "postgres")],
    );
    assert_eq!(sb.get("STORE"), "postgres");

    // By email: submitted on node 1, bob's reply arrives on node 2's contract listener.
    let by_mail = sb.submit_contract(
        sb.get("CONTRACT_ADDRESS"),
        "bob@example.test Offer one",
        "Offer one.",
        &[],
    );
    let request = sb.request_mail("bob", WAIT);
    answer_request(
        sb.port("NODE2_SMTP_PORT"),
        &request,
        "bob@example.test",
        "I accept.",
    );
    sb.wait_for_state(&by_mail, "accepted", WAIT);
    assert_eq!(nodes_of(&sb, &by_mail, "submitted"), ["node1"]);
    assert_eq!(nodes_of(&sb, &by_mail, "reply"), ["node2"]);

    // By SMS: submitted on node 1, answered through node 2's callback.
    let by_sms = sb.submit_contract(
        sb.get("CONTRACT_ADDRESS"),
        &format!("{BOB_PHONE} Offer two"),
        "Offer two.",
        &[],
    );
    let code = sms_code(&sb);
    mo_to_node2(&sb, &format!("YES {code}"));
    sb.wait_for_state(&by_sms, "accepted", WAIT);
    let sms_nodes = sb.sql_column(&format!(
        "SELECT DISTINCT node FROM events WHERE contract_id = '{by_sms}' ORDER BY node"
    ));
    assert_eq!(
        sms_nodes,
        ["node1", "node2"],
        "both nodes wrote this contract's events"
    );

    // One certificate each, whichever node's outbox issued it; none twice.
    let deadline = Instant::now() + WAIT;
    while sb.certificate_names("alice").len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(300));
    }
    std::thread::sleep(Duration::from_secs(3));
    let mut names = sb.certificate_names("alice");
    names.sort();
    assert_eq!(
        names,
        ["certificate-1.pdf", "certificate-2.pdf"],
        "{names:?}"
    );
    assert_eq!(sb.sql_column("SELECT COUNT(*) FROM certificates"), ["2"]);
    for id in [&by_mail, &by_sms] {
        let issued = sb.sql_column(&format!(
            "SELECT COUNT(*) FROM events WHERE contract_id = '{id}' AND kind = 'certificate_issued'"
        ));
        assert_eq!(issued, ["1"], "{id}");
        let show = sb.cli_json(&["contracts", "show", id, "--json"]);
        assert_eq!(show["chain"]["ok"], true, "{show}");
    }
    // Both nodes' CLIs read the same store.
    let node2 = sb.get("NODE2_CERTD_CLI").replace("\\ ", " ");
    let mut words = node2.split(' ');
    let out = std::process::Command::new(words.next().expect("program"))
        .args(words)
        .args(["contracts", "list", "--json"])
        .output()
        .expect("node 2's CLI");
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(listed, serde_json::Value::Array(sb.contracts()));
}
