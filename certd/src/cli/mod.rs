//! The `certd` command line: the daemon (`serve`) and the admin commands. This is the one
//! definition of the command line: `--help`, the shell completions (`certd completions`) and
//! the man pages (`certd man`) are all generated from it, so they cannot disagree.

mod certificates;
mod contracts;
mod customers;
mod docs;
mod parse;
mod status;
mod store_copy;
pub mod table;

use crate::config::Config;
use crate::error::Error;
use crate::store::Store;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Exit status: success.
pub const EXIT_OK: i32 = 0;
/// Exit status: the command ran, and its answer is negative (an invalid certificate, a
/// broken hash chain, an unhealthy `status`).
pub const EXIT_NEGATIVE: i32 = 1;
/// Exit status: bad arguments (also what clap exits with on a usage error).
pub const EXIT_USAGE: i32 = 2;
/// Exit status: no such customer, contract or certificate.
pub const EXIT_NOT_FOUND: i32 = 3;
/// Exit status: the change conflicts with what exists (customer exists, directory not empty).
pub const EXIT_CONFLICT: i32 = 4;
/// Exit status: configuration, database, file system or mail failure.
pub const EXIT_ENVIRONMENT: i32 = 5;

const EXIT_HELP: &str = "\
Exit status:
  0  success
  1  negative answer: invalid certificate, broken hash chain, unhealthy status
  2  usage: bad arguments, bad id, date, address or policy
  3  not found: no such customer, contract or certificate
  4  conflict: the customer exists, the export directory is not empty
  5  configuration, database, file system or mail failure";

#[derive(Debug, Parser)]
#[command(
    name = "certd",
    version,
    about = "certmail certification daemon and admin tool",
    long_about = "certmail certification daemon and admin tool.\n\n\
        `certd serve` runs the daemon that stores the contracts certmilter hands over and sends \
        receipts, requests and signed certificates. The other commands inspect and manage its \
        database; they may run while the daemon runs.",
    after_long_help = EXIT_HELP
)]
pub struct Cli {
    /// Configuration file.
    #[arg(
        long,
        short,
        env = "CERTD_CONFIG",
        default_value = "/etc/certmail/certd.toml",
        global = true
    )]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon in the foreground (socket server and outbox dispatcher).
    Serve,
    /// Manage the customer whitelist.
    #[command(subcommand)]
    Customers(CustomersCmd),
    /// Inspect and export contracts.
    #[command(subcommand)]
    Contracts(ContractsCmd),
    /// Export, verify and re-send issued certificates.
    #[command(subcommand)]
    Certificates(CertificatesCmd),
    /// Verify a certificate PDF file (no configuration needed).
    ///
    /// Checks the signature over the byte range, the chain to the trust anchors, the
    /// timestamp token and its imprint, every later revision (only validation data and
    /// document time-stamps may follow the signature), the revocation data in /DSS and each
    /// document time-stamp, offline, and prints the PAdES level reached (B-T, B-LT, B-LTA).
    /// Exit 0 when valid, 1 when not.
    Verify {
        /// The certificate PDF.
        file: PathBuf,
        /// PEM bundle of trust anchors (operator CA and TSA CA).
        #[arg(long)]
        trust: PathBuf,
        /// Validate as a validator would at this time (RFC 3339 date or date-time; default
        /// now), e.g. `--at 2036-01-01` to see whether the file still proves its signature then.
        #[arg(long, value_parser = parse::at_time)]
        at: Option<std::time::SystemTime>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Health of the installation; exit 1 when unhealthy.
    ///
    /// Shows the database (size, schema version), contracts per state, certificates, the
    /// outbox backlog and failing effects, and whether the daemon answers on its socket.
    /// Unhealthy: the socket does not answer, the outbox is stuck (see the options), or the
    /// store cannot be opened.
    Status {
        /// Unhealthy when an effect has been due for longer than this (e.g. 10m, 1h).
        #[arg(long, default_value = "10m", value_parser = parse::duration)]
        stuck_after: u64,
        /// Unhealthy when an effect has failed this many attempts.
        #[arg(long, default_value_t = 8)]
        max_attempts: i64,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Move the store to another database.
    #[command(subcommand)]
    Store(StoreCmd),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to stdout.
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the certd(1) man page, or write the pages of every command into DIR.
    Man {
        /// Directory for certd.1 and one page per subcommand (certd-contracts-list.1, ...).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Policy {
    /// SMTP AUTH with one of the customer's logins.
    SmtpAuth,
    /// A DKIM signature aligned with the From domain.
    Dkim,
    /// Either.
    Any,
}

impl From<Policy> for certmail_protocol::CustomerPolicy {
    fn from(p: Policy) -> Self {
        match p {
            Policy::SmtpAuth => certmail_protocol::CustomerPolicy::SmtpAuth,
            Policy::Dkim => certmail_protocol::CustomerPolicy::Dkim,
            Policy::Any => certmail_protocol::CustomerPolicy::Any,
        }
    }
}

/// The languages certd writes receipts, requests and certificates in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Language {
    En,
    Es,
    Ja,
}

impl Language {
    pub fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Es => "es",
            Language::Ja => "ja",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum CustomersCmd {
    /// Add a customer: NAME is the local part of NAME@<contract domain>.
    Add {
        /// Customer name: lower-case letters, digits, '.', '-', '_'.
        name: String,
        /// Where receipts and certificates go.
        #[arg(long, value_parser = parse::address)]
        email: String,
        /// Name shown in receipts and certificates.
        #[arg(long)]
        display_name: Option<String>,
        /// SMTP AUTH login allowed to submit for this customer (repeatable).
        #[arg(long = "smtp-login")]
        smtp_logins: Vec<String>,
        /// Domain whose aligned DKIM signature authenticates (repeatable).
        #[arg(long = "dkim-domain")]
        dkim_domains: Vec<String>,
        /// The customer's own phone number, international form (repeatable): a contract may
        /// not name it as a counterparty.
        #[arg(long = "phone", value_parser = parse::phone)]
        phones: Vec<String>,
        #[arg(long, value_enum, default_value = "smtp-auth")]
        policy: Policy,
        /// Language of the mail certd writes for this customer.
        #[arg(long, value_enum, default_value = "en")]
        language: Language,
        /// Time the counterparty has to answer, e.g. 48h, 30m, 10s.
        #[arg(long, default_value = "48h", value_parser = parse::duration)]
        deadline: u64,
    },
    /// List customers.
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show one customer.
    Show {
        /// Customer name.
        name: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Change a customer's policy, logins, DKIM domains, phones, language, deadline, name or
    /// email.
    ///
    /// Options not given keep their value. A change that would leave the customer unable to
    /// authenticate (policy dkim without a DKIM domain, ...) is refused as a whole.
    #[command(visible_alias = "edit")]
    Set {
        /// Customer name.
        name: String,
        /// Where receipts and certificates go.
        #[arg(long, value_parser = parse::address)]
        email: Option<String>,
        /// New display name; an empty string removes it.
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long, value_enum)]
        policy: Option<Policy>,
        #[arg(long, value_enum)]
        language: Option<Language>,
        /// Time the counterparty has to answer new contracts, e.g. 48h.
        #[arg(long, value_parser = parse::duration)]
        deadline: Option<u64>,
        /// Allow this SMTP AUTH login (repeatable).
        #[arg(long = "add-smtp-login")]
        add_smtp_logins: Vec<String>,
        /// Stop allowing this SMTP AUTH login (repeatable).
        #[arg(long = "remove-smtp-login")]
        remove_smtp_logins: Vec<String>,
        /// Accept aligned DKIM signatures of this domain (repeatable).
        #[arg(long = "add-dkim-domain")]
        add_dkim_domains: Vec<String>,
        /// Stop accepting DKIM signatures of this domain (repeatable).
        #[arg(long = "remove-dkim-domain")]
        remove_dkim_domains: Vec<String>,
        /// Register the customer's own phone number (repeatable): never a counterparty.
        #[arg(long = "add-phone", value_parser = parse::phone)]
        add_phones: Vec<String>,
        /// Unregister a phone number (repeatable).
        #[arg(long = "remove-phone", value_parser = parse::phone)]
        remove_phones: Vec<String>,
        /// Print the changed customer as JSON.
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Refuse further submissions from a customer.
    Disable {
        /// Customer name.
        name: String,
    },
    /// Accept submissions from a customer again.
    Enable {
        /// Customer name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ContractsCmd {
    /// List contracts, newest first.
    List {
        /// Only contracts in this state (received, requested, accepted, rejected,
        /// not_delivered, unanswered).
        #[arg(long, value_parser = parse::state)]
        state: Option<String>,
        /// Only this customer's contracts.
        #[arg(long)]
        customer: Option<String>,
        /// Submitted at or after: a date (2026-11-01, UTC midnight) or an RFC 3339 time
        /// (2026-11-01T09:30:00Z, 2026-11-01T10:30:00+01:00).
        #[arg(long, value_parser = parse::since)]
        since: Option<String>,
        /// Submitted at or before: a date (the whole day counts) or an RFC 3339 time.
        #[arg(long, value_parser = parse::until)]
        until: Option<String>,
        /// Only contracts sent to this email address or phone number (E.164, +34600111222).
        #[arg(long, value_parser = parse::destination)]
        destination: Option<String>,
        /// At most this many contracts (0: all).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show a contract with its event timeline and hash-chain check.
    ///
    /// The contract is named by id or serial number. Shows its parts, the event timeline,
    /// the outbox effects and the result of recomputing the hash chain; exit 1 when the
    /// chain is broken.
    Show {
        /// Contract id (26 characters) or serial number.
        #[arg(value_parser = parse::contract_ref)]
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Write a contract's evidence bundle into a new directory.
    ///
    /// The bundle holds the raw messages as .eml (submission, answers, delivery reports),
    /// the certificate PDF if issued, contract.json, events.json (with the exact hashed text
    /// of each event) and manifest.json with the SHA-256 of every file.
    Export {
        /// Contract id or serial number.
        #[arg(value_parser = parse::contract_ref)]
        id: String,
        /// Directory to create (it may exist if it is empty).
        #[arg(long, short)]
        output: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum CertificatesCmd {
    /// Write a contract's signed certificate PDF to a file (or stdout with `-`).
    Export {
        /// Contract id or serial number.
        #[arg(value_parser = parse::contract_ref)]
        id: String,
        #[arg(long, short)]
        output: PathBuf,
    },
    /// Verify a contract's stored certificate, as `certd verify` does for a file.
    ///
    /// Exit 0 when valid, 1 when not.
    Verify {
        /// Contract id or serial number.
        #[arg(value_parser = parse::contract_ref)]
        id: String,
        /// PEM bundle of trust anchors (operator CA and TSA CA).
        #[arg(long)]
        trust: PathBuf,
        /// Validate as a validator would at this time (RFC 3339 date or date-time; default
        /// now), e.g. `--at 2036-01-01` to see whether the file still proves its signature then.
        #[arg(long, value_parser = parse::at_time)]
        at: Option<std::time::SystemTime>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Renew the archive time-stamp of stored certificates (PAdES B-LTA).
    ///
    /// Every certificate whose newest time-stamp's TSA certificate expires within --before
    /// gets fresh validation data and a new document time-stamp, stored as a new version (the
    /// earlier bytes are kept). Exit 1 if any could not be renewed.
    Renew {
        /// Horizon: renew what expires within this time (e.g. 1y, 90days).
        #[arg(long, default_value = "1y", value_parser = parse::duration)]
        before: u64,
        /// At most this many certificates in this run.
        #[arg(long, default_value_t = 100_000)]
        limit: usize,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Mail a certificate again, to its original recipients or to --to addresses.
    ///
    /// The copies are queued in the outbox with fresh idempotency keys (and recorded as a
    /// certificate_resend event); the running daemon sends them.
    Resend {
        /// Contract id or serial number.
        #[arg(value_parser = parse::contract_ref)]
        id: String,
        /// Recipient instead of the original ones (repeatable).
        #[arg(long, value_parser = parse::address)]
        to: Vec<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Extract a certificate's RFC 3161 token and the signature value it timestamps.
    ///
    /// For `openssl ts -verify -in TOKEN -token_in -data SIGVALUE -CAfile TRUST`; works on a
    /// PDF file alone.
    Token {
        /// The certificate PDF.
        file: PathBuf,
        /// Where to write the RFC 3161 token (DER).
        #[arg(long)]
        token: PathBuf,
        /// Where to write the signature value the token covers.
        #[arg(long)]
        signature_value: PathBuf,
    },
}

/// The exit status for an error (see [`EXIT_HELP`]).
pub fn exit_code(e: &Error) -> i32 {
    match e {
        Error::Invalid(_) => EXIT_USAGE,
        Error::NotFound(_) => EXIT_NOT_FOUND,
        Error::Conflict(_) => EXIT_CONFLICT,
        Error::Config(_) | Error::Database(_) | Error::Io(_) | Error::Mail(_) => EXIT_ENVIRONMENT,
    }
}

/// Runs a parsed command line and returns the process exit status. Errors are printed to
/// stderr as `certd: <error>`.
pub fn run(cli: Cli) -> i32 {
    match dispatch(cli) {
        Ok(true) => EXIT_OK,
        Ok(false) => EXIT_NEGATIVE,
        Err(e) => {
            eprintln!("certd: {e}");
            exit_code(&e)
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum StoreCmd {
    /// Copy every row of a SQLite store into an empty store (PostgreSQL, or another SQLite
    /// file), in one transaction that commits only after every contract's hash chain has been
    /// recomputed in the target. Stop certd first. A PostgreSQL password comes from the
    /// environment variable CERTMAIL_STORE_PASSWORD.
    Copy {
        /// The source, e.g. sqlite:///var/lib/certmail/certd.sqlite
        #[arg(long)]
        from: String,
        /// The target, e.g. postgresql://certd@%2Frun%2Fpostgresql/certmail
        #[arg(long)]
        to: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// `Ok(false)`: the command ran and its verdict is negative.
fn dispatch(cli: Cli) -> Result<bool, Error> {
    // Commands that need neither configuration nor database come first, so that a recipient
    // of a certificate, or a packager generating man pages, can run them anywhere.
    match cli.command {
        Command::Verify {
            file,
            trust,
            at,
            json,
        } => return certificates::verify_file(&file, &trust, at, json),
        Command::Certificates(CertificatesCmd::Token {
            file,
            token,
            signature_value,
        }) => return certificates::token(&file, &token, &signature_value).map(|()| true),
        Command::Store(StoreCmd::Copy { from, to, json }) => {
            return store_copy::run(&from, &to, json).map(|()| true)
        }
        Command::Completions { shell } => return docs::completions(shell).map(|()| true),
        Command::Man { output } => return docs::man(output.as_deref()).map(|()| true),
        _ => {}
    }
    let config = Config::load(&cli.config)?;
    if let Command::Serve = cli.command {
        return crate::serve(&config).map(|()| true);
    }
    // Parsed once: with TLS that reads the CA file, and `status` shows the same location.
    let location = config.store_location()?;
    let opened = Store::open_location(&location, &config.database_access());
    let mut store = match (opened, &cli.command) {
        (Ok(store), _) => store,
        (Err(e @ (Error::Database(_) | Error::Io(_))), Command::Status { json, .. }) => {
            return status::unreachable(&config, &location, &e, *json)
        }
        (Err(e), _) => return Err(e),
    };
    store.set_node(&config.node_id());
    match cli.command {
        Command::Customers(c) => customers::run(&mut store, c).map(|()| true),
        Command::Contracts(c) => contracts::run(&store, c),
        Command::Certificates(CertificatesCmd::Renew {
            before,
            limit,
            json,
        }) => certificates::renew(&config, store, before, limit, json),
        Command::Certificates(c) => certificates::run(&mut store, c),
        Command::Status {
            stuck_after,
            max_attempts,
            json,
        } => status::run(&config, &location, &store, stuck_after, max_attempts, json),
        Command::Serve
        | Command::Store(_)
        | Command::Verify { .. }
        | Command::Completions { .. }
        | Command::Man { .. } => Err(Error::Invalid("handled above".into())),
    }
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<(), Error> {
    let s = serde_json::to_string_pretty(v).map_err(|e| Error::Invalid(e.to_string()))?;
    println!("{s}");
    Ok(())
}

/// Unix seconds as RFC 3339 UTC, for display.
fn unix_to_rfc3339(secs: i64) -> String {
    crate::evidence::Instant::from_unix_secs(secs).rfc3339_seconds()
}

/// A stored RFC 3339 time with milliseconds, shortened to seconds for tables.
fn short_time(t: &str) -> String {
    match (t.get(..19), t.ends_with('Z')) {
        (Some(s), true) => format!("{s}Z"),
        _ => t.to_string(),
    }
}

/// Finds a contract by id or serial, or says clearly that there is none.
fn find_contract(store: &Store, id: &str) -> Result<crate::store::ContractRow, Error> {
    store
        .contract(id)?
        .ok_or_else(|| Error::NotFound(format!("no contract with id or serial {id}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn error_kinds_map_to_the_documented_exit_codes() {
        assert_eq!(exit_code(&Error::Invalid("x".into())), 2);
        assert_eq!(exit_code(&Error::NotFound("x".into())), 3);
        assert_eq!(exit_code(&Error::Conflict("x".into())), 4);
        assert_eq!(exit_code(&Error::Config("x".into())), 5);
        assert_eq!(exit_code(&Error::Database("x".into())), 5);
        for code in 0..=5 {
            assert!(EXIT_HELP.contains(&format!("  {code}  ")), "{code}");
        }
    }

    #[test]
    fn usage_errors_are_reported_by_clap() {
        for args in [
            &["certd", "contracts", "show", "12x"][..],
            &["certd", "contracts", "list", "--since", "2026-13-01"],
            &["certd", "contracts", "list", "--state", "happy"],
            &["certd", "customers", "set", "a", "--policy", "password"],
            &["certd", "customers", "set", "a", "--language", "fr"],
            &["certd", "customers", "set", "a", "--add-phone", "600111222"],
            &[
                "certd",
                "customers",
                "add",
                "a",
                "--email",
                "a@b.test",
                "--phone",
                "call me",
            ],
            &[
                "certd",
                "certificates",
                "resend",
                "1",
                "--to",
                "not an address",
            ],
        ] {
            let e = Cli::try_parse_from(args).expect_err(&format!("{args:?} parsed"));
            assert_eq!(e.exit_code(), EXIT_USAGE, "{args:?}");
        }
        assert!(Cli::try_parse_from(["certd", "customers", "edit", "a", "--json"]).is_ok());
        let Ok(Cli {
            command: Command::Customers(CustomersCmd::Set { add_phones, .. }),
            ..
        }) = Cli::try_parse_from([
            "certd",
            "customers",
            "set",
            "a",
            "--add-phone",
            "+34 600 111 222",
        ])
        else {
            panic!("--add-phone not parsed")
        };
        assert_eq!(add_phones, ["+34600111222"]);
    }

    #[test]
    fn short_times() {
        assert_eq!(
            short_time("2026-11-25T06:41:49.123Z"),
            "2026-11-25T06:41:49Z"
        );
        assert_eq!(short_time("garbage"), "garbage");
        assert_eq!(unix_to_rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
