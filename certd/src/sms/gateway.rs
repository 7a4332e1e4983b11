//! Handing an SMS to an HTTP gateway (Kannel's `sendsms` by default).
//!
//! Kannel answers `202 0: Accepted for delivery` (or `3: Queued for later delivery` when its
//! SMS centre is away: it keeps the message, so that is a success too). A gateway that does
//! not answer at all is down: the outbox retries later. A `400` means the gateway will never
//! take this number: a delivery failure of that destination. Credentials problems (`401`,
//! `403`) and server errors are the operator's to fix: retried, never dropped.

use super::Measure;
use crate::config::{SecretIn, SmsConfig};
use crate::error::Error;
use crate::send::SendError;
use std::collections::BTreeMap;
use std::time::Duration;

/// One SMS to hand over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingSms {
    pub to: String,
    pub text: String,
    /// Our reference, quoted back by the gateway in delivery reports.
    pub reference: String,
}

/// What the gateway said when it took the SMS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub status: u16,
    pub answer: String,
    pub measure: Measure,
}

/// Where SMS go. The HTTP implementation talks to the gateway; tests use a fake.
pub trait Gateway: Send + Sync {
    fn send(&self, sms: &OutgoingSms) -> Result<Accepted, SendError>;
}

/// An HTTP SMS gateway.
pub struct HttpGateway {
    agent: ureq::Agent,
    config: SmsConfig,
    password: String,
    secret: String,
}

impl HttpGateway {
    pub fn new(config: &SmsConfig) -> Result<HttpGateway, Error> {
        let read = |p: &Option<std::path::PathBuf>, what: &str| -> Result<String, Error> {
            match p {
                None => Ok(String::new()),
                Some(p) => std::fs::read_to_string(p)
                    .map(|s| s.trim().to_string())
                    .map_err(|e| Error::Config(format!("cannot read {what} {}: {e}", p.display()))),
            }
        };
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(config.timeout_secs)))
            .http_status_as_error(false)
            .build()
            .into();
        Ok(HttpGateway {
            agent,
            password: read(&config.password_file, "sms.password_file")?,
            secret: read(&config.callback_secret_file, "sms.callback_secret_file")?,
            config: config.clone(),
        })
    }

    /// The request parameters for `sms`, with placeholders filled in.
    pub fn params(&self, sms: &OutgoingSms, m: &Measure) -> Vec<(String, String)> {
        // The secret goes in the URL only when the gateway cannot send it in a header.
        let key = match self.config.callback_secret_in {
            SecretIn::Query if !self.secret.is_empty() => format!("key={}&", self.secret),
            _ => String::new(),
        };
        let dlr_url = format!(
            "{}/dlr?{key}ref={}&status=%d&ts=%T&smsc=%i&fid=%F&answer=%A",
            self.config.callback_base(),
            sms.reference
        );
        let values: BTreeMap<&str, String> = [
            ("to", sms.to.clone()),
            ("from", self.config.sender.clone()),
            ("text", sms.text.clone()),
            ("coding", m.coding.kannel().to_string()),
            ("charset", "UTF-8".to_string()),
            ("dlr_mask", self.config.dlr_mask.to_string()),
            ("dlr_url", dlr_url),
            ("username", self.config.username.clone().unwrap_or_default()),
            ("password", self.password.clone()),
            ("reference", sms.reference.clone()),
        ]
        .into_iter()
        .collect();
        let template: Vec<(String, String)> = if self.config.params.is_empty() {
            [
                ("username", "{username}"),
                ("password", "{password}"),
                ("from", "{from}"),
                ("to", "{to}"),
                ("text", "{text}"),
                ("charset", "{charset}"),
                ("coding", "{coding}"),
                ("dlr-mask", "{dlr_mask}"),
                ("dlr-url", "{dlr_url}"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
        } else {
            self.config
                .params
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        template
            .into_iter()
            .map(|(k, v)| (k, fill(&v, &values)))
            .collect()
    }

    /// Hides the credentials in anything that may reach a log.
    fn redact(&self, s: &str) -> String {
        let mut out = s.to_string();
        for secret in [&self.password, &self.secret] {
            if !secret.is_empty() {
                out = out.replace(secret.as_str(), "***");
            }
        }
        out
    }
}

/// Replaces `{name}` placeholders; unknown names stay as they are.
fn fill(template: &str, values: &BTreeMap<&str, String>) -> String {
    let mut out = template.to_string();
    for (k, v) in values {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

/// Sorts a gateway's HTTP answer into accepted / retry later / never.
pub fn judge(status: u16, body: &str) -> Result<(), SendError> {
    let body = body.trim();
    match status {
        200..=299 => Ok(()),
        400 | 404 | 413 | 422 => Err(SendError::Permanent(format!("{status} {body}"))),
        _ => Err(SendError::Temporary(format!("{status} {body}"))),
    }
}

impl Gateway for HttpGateway {
    fn send(&self, sms: &OutgoingSms) -> Result<Accepted, SendError> {
        let measure = super::measure(&sms.text);
        let params = self.params(sms, &measure);
        let result = if self.config.method == "post" {
            self.agent
                .post(&self.config.send_url)
                .send_form(params.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        } else {
            self.agent
                .get(&self.config.send_url)
                .query_pairs(params.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .call()
        };
        let mut response = result.map_err(|e| {
            SendError::Temporary(format!(
                "gateway unreachable: {}",
                self.redact(&e.to_string())
            ))
        })?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(64 * 1024)
            .read_to_string()
            .unwrap_or_default();
        let body = self.redact(body.trim());
        judge(status, &body)?;
        Ok(Accepted {
            status,
            answer: body,
            measure,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SmsConfig {
        crate::config::Config::parse(
            "socket='/s'\ndatabase='/d'\n[smtp]\nhost='h'\nport=25\nfrom='a@b'\n[sms]\nsend_url='http://127.0.0.1:9/cgi-bin/sendsms'\nsender='22123'\nusername='certmail'\ncallback_url='http://127.0.0.1:8026/'\n",
        )
        .unwrap()
        .sms
        .unwrap()
    }

    fn sms() -> OutgoingSms {
        OutgoingSms {
            to: "+34600111222".into(),
            text: "está".into(),
            reference: "r1".into(),
        }
    }

    #[test]
    fn kannel_parameters_by_default() {
        let mut g = HttpGateway::new(&config()).unwrap();
        g.secret = "s3cret".into();
        let m = super::super::measure("está");
        let p: BTreeMap<String, String> = g.params(&sms(), &m).into_iter().collect();
        assert_eq!(p["to"], "+34600111222");
        assert_eq!(p["from"], "22123");
        assert_eq!(p["coding"], "2", "á needs UCS-2");
        assert_eq!(p["username"], "certmail");
        assert_eq!(
            p["dlr-url"],
            "http://127.0.0.1:8026/dlr?ref=r1&status=%d&ts=%T&smsc=%i&fid=%F&answer=%A",
            "the secret travels in a header, never in a URL"
        );
        g.config.callback_secret_in = SecretIn::Query;
        let p: BTreeMap<String, String> = g.params(&sms(), &m).into_iter().collect();
        assert_eq!(
            p["dlr-url"],
            "http://127.0.0.1:8026/dlr?key=s3cret&ref=r1&status=%d&ts=%T&smsc=%i&fid=%F&answer=%A"
        );
        assert_eq!(g.redact("url ...key=s3cret..."), "url ...key=***...");
    }

    #[test]
    fn custom_request_shape() {
        let mut c = config();
        c.params = [
            ("dest".to_string(), "{to}".to_string()),
            ("msg".to_string(), "{text}".to_string()),
            ("cb".to_string(), "{reference}".to_string()),
        ]
        .into_iter()
        .collect();
        let g = HttpGateway::new(&c).unwrap();
        let m = super::super::measure("hi");
        let p = g.params(&sms(), &m);
        assert_eq!(
            p,
            vec![
                ("cb".to_string(), "r1".to_string()),
                ("dest".to_string(), "+34600111222".to_string()),
                ("msg".to_string(), "está".to_string())
            ]
        );
    }

    #[test]
    fn answers_are_judged() {
        assert!(judge(202, "0: Accepted for delivery").is_ok());
        assert!(judge(202, "3: Queued for later delivery").is_ok());
        assert!(matches!(judge(400, "bad to"), Err(SendError::Permanent(_))));
        assert!(matches!(
            judge(403, "Authorization failed"),
            Err(SendError::Temporary(_))
        ));
        assert!(matches!(judge(503, ""), Err(SendError::Temporary(_))));
    }

    #[test]
    fn a_gateway_that_is_down_is_a_temporary_failure() {
        // Port 9 (discard) on loopback: nothing listens in the test environment.
        let g = HttpGateway::new(&config()).unwrap();
        assert!(matches!(g.send(&sms()), Err(SendError::Temporary(_))));
    }
}
