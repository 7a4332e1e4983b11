//! The customer whitelist (claim 2 of the patent: only addresses in the database of valid
//! customers may generate certificates).

use super::sql::{params, OptionalExtension};
use super::Store;
use crate::error::Error;
use crate::evidence::Instant;
use certmail_protocol::counterparty::e164;
use certmail_protocol::{CustomerInfo, CustomerPolicy};
use serde::Serialize;

/// A customer as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Customer {
    pub name: String,
    pub email: String,
    pub display_name: Option<String>,
    pub active: bool,
    pub policy: String,
    pub language: String,
    pub deadline_secs: i64,
    pub smtp_logins: Vec<String>,
    pub dkim_domains: Vec<String>,
    /// Registered phone numbers (E.164): never a counterparty of this customer.
    pub phones: Vec<String>,
    pub created_at: String,
}

/// What `customers add` supplies.
#[derive(Clone, Debug)]
pub struct NewCustomer {
    pub name: String,
    pub email: String,
    pub display_name: Option<String>,
    pub policy: CustomerPolicy,
    pub language: String,
    pub deadline_secs: i64,
    pub smtp_logins: Vec<String>,
    pub dkim_domains: Vec<String>,
    /// Phone numbers in any spelling [`e164`] reads; stored in E.164.
    pub phones: Vec<String>,
}

/// A phone number as stored: E.164, or why not.
pub fn normalize_phone(p: &str) -> Result<String, Error> {
    e164(p).ok_or_else(|| {
        Error::Invalid(format!(
            "phone {p:?} is not a number in international form (+34600111222)"
        ))
    })
}

pub(crate) fn policy_str(p: CustomerPolicy) -> &'static str {
    match p {
        CustomerPolicy::SmtpAuth => "smtp-auth",
        CustomerPolicy::Dkim => "dkim",
        CustomerPolicy::Any => "any",
    }
}

fn policy_from_str(s: &str) -> Result<CustomerPolicy, Error> {
    match s {
        "smtp-auth" => Ok(CustomerPolicy::SmtpAuth),
        "dkim" => Ok(CustomerPolicy::Dkim),
        "any" => Ok(CustomerPolicy::Any),
        other => Err(Error::Database(format!(
            "unknown policy {other:?} in store"
        ))),
    }
}

/// Customer names become local parts: keep them to a conservative, unambiguous set.
/// `+` is excluded because `reply+…`/`bounce+…` are reserved address forms.
pub fn validate_customer_name(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.' || b == b'_'
        })
        && !name.starts_with(['.', '-'])
        && !name.ends_with('.');
    if !ok {
        return Err(Error::Invalid(format!(
            "customer name {name:?} must be 1-64 characters of a-z, 0-9, '.', '-', '_' (it becomes the local part of the contract address)"
        )));
    }
    if matches!(name, "postmaster" | "abuse" | "mailer-daemon") {
        return Err(Error::Invalid(format!(
            "customer name {name:?} is a reserved mailbox name (RFC 2142)"
        )));
    }
    Ok(())
}

impl Store {
    pub fn add_customer(&mut self, c: &NewCustomer, now: Instant) -> Result<(), Error> {
        validate_customer_name(&c.name)?;
        if !c.email.contains('@') {
            return Err(Error::Invalid(format!(
                "customer email {:?} is not an address",
                c.email
            )));
        }
        if c.deadline_secs <= 0 {
            return Err(Error::Invalid("the deadline must be positive".into()));
        }
        match c.policy {
            CustomerPolicy::SmtpAuth if c.smtp_logins.is_empty() => {
                return Err(Error::Invalid(
                    "policy smtp-auth needs at least one --smtp-login".into(),
                ))
            }
            CustomerPolicy::Dkim if c.dkim_domains.is_empty() => {
                return Err(Error::Invalid(
                    "policy dkim needs at least one --dkim-domain".into(),
                ))
            }
            CustomerPolicy::Any if c.smtp_logins.is_empty() && c.dkim_domains.is_empty() => {
                return Err(Error::Invalid(
                    "policy any needs an --smtp-login or a --dkim-domain".into(),
                ))
            }
            _ => {}
        }
        let phones = c
            .phones
            .iter()
            .map(|p| normalize_phone(p))
            .collect::<Result<Vec<_>, _>>()?;
        self.write(|tx| {
            let exists: Option<i64> = tx
                .query_row(
                    "SELECT id FROM customers WHERE name = ?1",
                    [&c.name],
                    |r| r.get(0),
                )
                .optional()?;
            if exists.is_some() {
                return Err(Error::Conflict(format!(
                    "customer {:?} already exists",
                    c.name
                )));
            }
            let id: i64 = tx.query_row(
                "INSERT INTO customers (name, email, display_name, policy, language, deadline_secs, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
                params![
                    c.name,
                    c.email,
                    c.display_name,
                    policy_str(c.policy),
                    c.language,
                    c.deadline_secs,
                    now.rfc3339_millis()
                ],
                |r| r.get(0),
            )?;
            for login in &c.smtp_logins {
                tx.execute(
                    "INSERT INTO customer_logins (customer_id, login) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                    params![id, login],
                )?;
            }
            for domain in &c.dkim_domains {
                tx.execute(
                    "INSERT INTO customer_dkim_domains (customer_id, domain) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                    params![id, domain.to_ascii_lowercase()],
                )?;
            }
            for phone in &phones {
                tx.execute(
                    "INSERT INTO customer_phones (customer_id, phone) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                    params![id, phone],
                )?;
            }
            Ok(())
        })
    }

    /// Registers and unregisters a customer's phone numbers (any spelling [`e164`] reads)
    /// in one transaction; returns the numbers now registered.
    pub fn change_customer_phones(
        &mut self,
        name: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<Vec<String>, Error> {
        let add = add
            .iter()
            .map(|p| normalize_phone(p))
            .collect::<Result<Vec<_>, _>>()?;
        let remove = remove
            .iter()
            .map(|p| normalize_phone(p))
            .collect::<Result<Vec<_>, _>>()?;
        let id = self.write(|tx| {
            let id: i64 = tx
                .query_row("SELECT id FROM customers WHERE name = ?1", [name], |r| {
                    r.get(0)
                })
                .optional()?
                .ok_or_else(|| Error::NotFound(format!("no customer named {name:?}")))?;
            for phone in &remove {
                tx.execute(
                    "DELETE FROM customer_phones WHERE customer_id = ?1 AND phone = ?2",
                    params![id, phone],
                )?;
            }
            for phone in &add {
                tx.execute(
                    "INSERT INTO customer_phones (customer_id, phone) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                    params![id, phone],
                )?;
            }
            Ok(id)
        })?;
        self.strings(
            "SELECT phone FROM customer_phones WHERE customer_id = ?1 ORDER BY phone",
            id,
        )
    }

    /// Enables or disables a customer; disabled customers' submissions are refused.
    pub fn set_customer_active(&mut self, name: &str, active: bool) -> Result<(), Error> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE customers SET active = ?1 WHERE name = ?2",
                params![active, name],
            )?;
            if n == 0 {
                return Err(Error::NotFound(format!("no customer named {name:?}")));
            }
            Ok(())
        })
    }

    pub fn customer(&self, name: &str) -> Result<Option<Customer>, Error> {
        let row = self
            .conn()
            .query_row(
                "SELECT id, name, email, display_name, active, policy, language, deadline_secs, created_at
                 FROM customers WHERE name = ?1",
                [name],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        Customer {
                            name: r.get(1)?,
                            email: r.get(2)?,
                            display_name: r.get(3)?,
                            active: r.get(4)?,
                            policy: r.get(5)?,
                            language: r.get(6)?,
                            deadline_secs: r.get(7)?,
                            created_at: r.get(8)?,
                            smtp_logins: Vec::new(),
                            dkim_domains: Vec::new(),
                            phones: Vec::new(),
                        },
                    ))
                },
            )
            .optional()?;
        let Some((id, mut c)) = row else {
            return Ok(None);
        };
        c.smtp_logins = self.strings(
            "SELECT login FROM customer_logins WHERE customer_id = ?1 ORDER BY login",
            id,
        )?;
        c.dkim_domains = self.strings(
            "SELECT domain FROM customer_dkim_domains WHERE customer_id = ?1 ORDER BY domain",
            id,
        )?;
        c.phones = self.strings(
            "SELECT phone FROM customer_phones WHERE customer_id = ?1 ORDER BY phone",
            id,
        )?;
        Ok(Some(c))
    }

    pub fn customers(&self) -> Result<Vec<Customer>, Error> {
        let names = {
            let conn = self.conn();
            let mut stmt = conn.prepare("SELECT name FROM customers ORDER BY name")?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            rows.collect::<Result<Vec<_>, _>>()?
        };
        let mut out = Vec::with_capacity(names.len());
        for n in names {
            if let Some(c) = self.customer(&n)? {
                out.push(c);
            }
        }
        Ok(out)
    }

    /// The view of a customer that the milter needs at RCPT time.
    pub fn customer_info(&self, name: &str) -> Result<Option<CustomerInfo>, Error> {
        let Some(c) = self.customer(name)? else {
            return Ok(None);
        };
        Ok(Some(CustomerInfo {
            policy: policy_from_str(&c.policy)?,
            name: c.name,
            active: c.active,
            smtp_logins: c.smtp_logins,
            dkim_domains: c.dkim_domains,
            email: Some(c.email),
            phones: c.phones,
        }))
    }

    fn strings(&self, sql: &str, id: i64) -> Result<Vec<String>, Error> {
        let conn = self.conn();
        let mut stmt = conn.prepare(sql)?;
        let rows = stmt.query_map([id], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn alice() -> NewCustomer {
        NewCustomer {
            name: "alice".into(),
            email: "alice@example.test".into(),
            display_name: Some("Alice Example".into()),
            policy: CustomerPolicy::SmtpAuth,
            language: "es".into(),
            deadline_secs: 3600,
            smtp_logins: vec!["alice".into()],
            dkim_domains: vec![],
            phones: vec![],
        }
    }

    #[test]
    fn add_show_disable() {
        let mut s = crate::store::test_store::test_store();
        s.add_customer(&alice(), crate::evidence::Instant::now())
            .unwrap();
        let info = s.customer_info("alice").unwrap().unwrap();
        assert!(info.active);
        assert_eq!(info.smtp_logins, vec!["alice"]);
        assert_eq!(info.policy, CustomerPolicy::SmtpAuth);
        s.set_customer_active("alice", false).unwrap();
        assert!(!s.customer_info("alice").unwrap().unwrap().active);
        assert!(s.customer_info("bob").unwrap().is_none());
        assert!(matches!(
            s.set_customer_active("bob", true),
            Err(Error::NotFound(_))
        ));
    }

    #[test]
    fn phones_are_stored_in_e164_and_given_to_the_milter() {
        let mut s = crate::store::test_store::test_store();
        let mut c = alice();
        c.phones = vec!["+34 600 999 888".into()];
        s.add_customer(&c, crate::evidence::Instant::now()).unwrap();
        let info = s.customer_info("alice").unwrap().unwrap();
        assert_eq!(info.phones, vec!["+34600999888"]);
        assert_eq!(info.email.as_deref(), Some("alice@example.test"));
        let now = s
            .change_customer_phones(
                "alice",
                &["0044 7700 900123".into()],
                &["+34600999888".into()],
            )
            .unwrap();
        assert_eq!(now, vec!["+447700900123"]);
        assert_eq!(s.customer("alice").unwrap().unwrap().phones, now);
        assert!(matches!(
            s.change_customer_phones("alice", &["600999888".into()], &[]),
            Err(Error::Invalid(_))
        ));
        assert!(matches!(
            s.change_customer_phones("zed", &["+34600999888".into()], &[]),
            Err(Error::NotFound(_))
        ));
        let mut c = alice();
        c.name = "bob".into();
        c.phones = vec!["call me".into()];
        assert!(matches!(
            s.add_customer(&c, crate::evidence::Instant::now()),
            Err(Error::Invalid(_))
        ));
    }

    #[test]
    fn duplicate_and_bad_customers_are_refused() {
        let mut s = crate::store::test_store::test_store();
        s.add_customer(&alice(), crate::evidence::Instant::now())
            .unwrap();
        assert!(matches!(
            s.add_customer(&alice(), crate::evidence::Instant::now()),
            Err(Error::Conflict(_))
        ));
        for bad in ["", "Alice", "a+b", "reply+x", ".a", "postmaster", "a b"] {
            let mut c = alice();
            c.name = bad.into();
            assert!(
                matches!(
                    s.add_customer(&c, crate::evidence::Instant::now()),
                    Err(Error::Invalid(_))
                ),
                "{bad:?} accepted"
            );
        }
        let mut c = alice();
        c.name = "nologin".into();
        c.smtp_logins.clear();
        assert!(matches!(
            s.add_customer(&c, crate::evidence::Instant::now()),
            Err(Error::Invalid(_))
        ));
    }
}
