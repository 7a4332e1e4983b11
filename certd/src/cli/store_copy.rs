//! `certd store copy --from sqlite:… --to postgresql:…`: moves an installation between store
//! backends (stop certd first), printing what was copied and verified.

use super::print_json;
use crate::error::Error;
use crate::files::DbAccess;
use crate::store::{Location, Store};

pub(super) fn run(from: &str, to: &str, json: bool) -> Result<(), Error> {
    let password = std::env::var("CERTMAIL_STORE_PASSWORD").ok();
    let source = Location::parse(from)?;
    let Location::Sqlite(path) = &source else {
        return Err(Error::Invalid(
            "--from must be a SQLite store (sqlite:///path); to move a PostgreSQL database use pg_dump".into(),
        ));
    };
    if !path.exists() {
        return Err(Error::NotFound(format!(
            "{} does not exist",
            path.display()
        )));
    }
    let target = Location::parse(to)?.with_password(password.as_deref());
    let source_store = Store::open_location(&source, &DbAccess::default())?;
    let mut target_store = Store::open_location(&target, &DbAccess::default())?;
    let quiet = json;
    let report = source_store.copy_into(&mut target_store, |table, n| {
        if !quiet {
            eprint!("\r{table}: {n}        ");
        }
    })?;
    if !quiet {
        eprintln!();
    }
    if json {
        return print_json(&report);
    }
    for (table, n) in &report.tables {
        println!("{table:<22} {n:>10} rows");
    }
    println!(
        "copied {} to {}: {} contract chains ({} events) verified in the target",
        source.describe(),
        target.describe(),
        report.chains_verified,
        report.events_verified
    );
    Ok(())
}
