//! `certd customers …`

use super::table::Table;
use super::{print_json, CustomersCmd};
use crate::error::Error;
use crate::store::admin::CustomerChange;
use crate::store::{Customer, NewCustomer, Store};

pub(super) fn run(store: &mut Store, cmd: CustomersCmd) -> Result<(), Error> {
    match cmd {
        CustomersCmd::Add {
            name,
            email,
            display_name,
            smtp_logins,
            dkim_domains,
            phones,
            policy,
            language,
            deadline,
        } => {
            store.add_customer(
                &NewCustomer {
                    name: name.clone(),
                    email,
                    display_name,
                    policy: policy.into(),
                    language: language.code().into(),
                    deadline_secs: deadline as i64,
                    smtp_logins,
                    dkim_domains,
                    phones,
                },
                crate::evidence::Instant::now(),
            )?;
            eprintln!("customer {name} added");
            Ok(())
        }
        CustomersCmd::List { json } => {
            let all = store.customers()?;
            if json {
                return print_json(&all);
            }
            let mut t = Table::new(&[
                "NAME", "ACTIVE", "POLICY", "LANG", "DEADLINE", "EMAIL", "LOGINS", "DKIM",
            ]);
            for c in &all {
                t.row([
                    c.name.as_str(),
                    if c.active { "yes" } else { "no" },
                    &c.policy,
                    &c.language,
                    &deadline(c.deadline_secs),
                    &c.email,
                    &c.smtp_logins.join(","),
                    &c.dkim_domains.join(","),
                ]);
            }
            print!("{}", t.render());
            Ok(())
        }
        CustomersCmd::Show { name, json } => {
            let c = store
                .customer(&name)?
                .ok_or_else(|| Error::NotFound(format!("no customer named {name:?}")))?;
            show(&c, json)
        }
        CustomersCmd::Set {
            name,
            email,
            display_name,
            policy,
            language,
            deadline,
            add_smtp_logins,
            remove_smtp_logins,
            add_dkim_domains,
            remove_dkim_domains,
            add_phones,
            remove_phones,
            json,
        } => {
            let change = CustomerChange {
                email,
                display_name: display_name.map(|d| Some(d).filter(|d| !d.is_empty())),
                policy: policy.map(Into::into),
                language: language.map(|l| l.code().to_string()),
                deadline_secs: deadline.map(|d| d as i64),
                add_smtp_logins,
                remove_smtp_logins,
                add_dkim_domains,
                remove_dkim_domains,
            };
            let phones_change = !add_phones.is_empty() || !remove_phones.is_empty();
            if change.is_empty() && !phones_change {
                return Err(Error::Invalid(
                    "nothing to change: give at least one option (see certd customers set --help)"
                        .into(),
                ));
            }
            if !change.is_empty() {
                store.update_customer(&name, &change)?;
            }
            if phones_change {
                store.change_customer_phones(&name, &add_phones, &remove_phones)?;
            }
            let c = store
                .customer(&name)?
                .ok_or_else(|| Error::NotFound(format!("no customer named {name:?}")))?;
            if !json {
                eprintln!("customer {name} changed");
            }
            show(&c, json)
        }
        CustomersCmd::Disable { name } => {
            store.set_customer_active(&name, false)?;
            eprintln!("customer {name} disabled: new submissions are refused");
            Ok(())
        }
        CustomersCmd::Enable { name } => {
            store.set_customer_active(&name, true)?;
            eprintln!("customer {name} enabled");
            Ok(())
        }
    }
}

fn show(c: &Customer, json: bool) -> Result<(), Error> {
    if json {
        return print_json(c);
    }
    let none = || "-".to_string();
    let list = |v: &[String]| {
        if v.is_empty() {
            none()
        } else {
            v.join(", ")
        }
    };
    let mut t = Table::new(&["FIELD", "VALUE"]);
    t.row(["name", c.name.as_str()]);
    t.row(["email", &c.email]);
    t.row(["display name", &c.display_name.clone().unwrap_or_else(none)]);
    t.row(["active", if c.active { "yes" } else { "no" }]);
    t.row(["policy", &c.policy]);
    t.row(["smtp logins", &list(&c.smtp_logins)]);
    t.row(["dkim domains", &list(&c.dkim_domains)]);
    t.row(["phones", &list(&c.phones)]);
    t.row(["language", &c.language]);
    t.row(["deadline", &deadline(c.deadline_secs)]);
    t.row(["created at", &c.created_at]);
    // The header row of a two-column key/value view says nothing; skip it.
    print!("{}", t.render().split_once('\n').map(|x| x.1).unwrap_or(""));
    Ok(())
}

/// Seconds as humantime (`2days`, `1h 30m`), the notation `--deadline` accepts.
fn deadline(secs: i64) -> String {
    humantime::format_duration(std::time::Duration::from_secs(secs.max(0) as u64)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_read_back_as_arguments() {
        for secs in [10, 3600, 172_800, 5400] {
            let shown = deadline(secs);
            assert_eq!(super::super::parse::duration(&shown), Ok(secs as u64));
        }
    }
}
