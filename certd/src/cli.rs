//! The `certd` command line: the daemon (`serve`) and the admin commands, one definition so
//! that `--help`, completions and man pages agree.

use crate::config::Config;
use crate::error::Error;
use crate::store::{ListFilter, NewCustomer, Store};
use certmail_protocol::CustomerPolicy;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "certd",
    version,
    about = "certmail certification daemon and admin tool"
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
    /// Inspect contracts.
    #[command(subcommand)]
    Contracts(ContractsCmd),
    /// Verify a certificate PDF: signature over the byte range, chain to the trust anchors,
    /// timestamp token and imprint, embedded evidence hashes. Exit 0 when valid, 1 when not.
    Verify {
        file: PathBuf,
        /// PEM bundle of trust anchors (operator CA and TSA CA).
        #[arg(long)]
        trust: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Issued certificates.
    #[command(subcommand)]
    Certificates(CertificatesCmd),
}

#[derive(Debug, Subcommand)]
pub enum CertificatesCmd {
    /// Write a contract's signed certificate PDF to a file (or stdout with `-`).
    Export {
        /// Contract id or serial number.
        id: String,
        #[arg(long, short)]
        output: PathBuf,
    },
    /// Extract a certificate's RFC 3161 token and the signature value it timestamps, for
    /// `openssl ts -verify -in TOKEN -token_in -data SIGVALUE -CAfile TRUST`.
    Token {
        file: PathBuf,
        #[arg(long)]
        token: PathBuf,
        #[arg(long)]
        signature_value: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Policy {
    /// SMTP AUTH with one of the customer's logins.
    SmtpAuth,
    /// A DKIM signature aligned with the From domain.
    Dkim,
    /// Either.
    Any,
}

impl From<Policy> for CustomerPolicy {
    fn from(p: Policy) -> Self {
        match p {
            Policy::SmtpAuth => CustomerPolicy::SmtpAuth,
            Policy::Dkim => CustomerPolicy::Dkim,
            Policy::Any => CustomerPolicy::Any,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum CustomersCmd {
    /// Add a customer: NAME is the local part of NAME@<contract domain>.
    Add {
        name: String,
        /// Where receipts and certificates go.
        #[arg(long)]
        email: String,
        #[arg(long)]
        display_name: Option<String>,
        /// SMTP AUTH login allowed to submit for this customer (repeatable).
        #[arg(long = "smtp-login")]
        smtp_logins: Vec<String>,
        /// Domain whose aligned DKIM signature authenticates (repeatable).
        #[arg(long = "dkim-domain")]
        dkim_domains: Vec<String>,
        #[arg(long, value_enum, default_value = "smtp-auth")]
        policy: Policy,
        /// Language of the mail certd writes for this customer (en, es, ja).
        #[arg(long, default_value = "en")]
        language: String,
        /// Time the counterparty has to answer, e.g. 48h, 30m, 10s.
        #[arg(long, default_value = "48h", value_parser = parse_duration)]
        deadline: u64,
    },
    /// List customers.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one customer.
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Refuse further submissions from a customer.
    Disable { name: String },
    /// Accept submissions from a customer again.
    Enable { name: String },
}

#[derive(Debug, Subcommand)]
pub enum ContractsCmd {
    /// List contracts, newest first.
    List {
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        customer: Option<String>,
        #[arg(long)]
        limit: Option<u32>,
        #[arg(long)]
        json: bool,
    },
    /// Show a contract (by id or serial number) with its event timeline and chain check.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
}

fn parse_duration(s: &str) -> Result<u64, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{s:?}: {e}"))?;
    if d.as_secs() == 0 {
        return Err("the deadline must be at least one second".into());
    }
    Ok(d.as_secs())
}

/// Exit codes for scripts (documented in `docs/cli.md`).
pub fn exit_code(e: &Error) -> i32 {
    match e {
        Error::NotFound(_) => 3,
        Error::Conflict(_) => 4,
        Error::Invalid(_) => 5,
        Error::Config(_) => 6,
        _ => 1,
    }
}

/// Runs an admin command, printing to stdout.
pub fn run_admin(config: &Config, cmd: Command) -> Result<(), Error> {
    let mut store = Store::open(&config.database)?;
    match cmd {
        Command::Serve | Command::Verify { .. } => unreachable_serve(),
        Command::Customers(c) => customers(&mut store, c),
        Command::Contracts(c) => contracts(&store, c),
        Command::Certificates(c @ CertificatesCmd::Token { .. }) => run_pdf_tool(&c),
        Command::Certificates(CertificatesCmd::Export { id, output }) => {
            let c = store
                .contract(&id)?
                .ok_or_else(|| Error::NotFound(format!("no contract with id or serial {id:?}")))?;
            let pdf = store.certificate(&c.summary.id)?.ok_or_else(|| {
                Error::NotFound(format!(
                    "contract {} (state {}) has no certificate yet",
                    c.summary.id, c.summary.state
                ))
            })?;
            if output.as_os_str() == "-" {
                use std::io::Write;
                std::io::stdout().write_all(&pdf)?;
            } else {
                std::fs::write(&output, &pdf)?;
                eprintln!("wrote {} ({} bytes)", output.display(), pdf.len());
            }
            Ok(())
        }
    }
}

/// Certificate commands that work on a PDF file alone (no configuration, no database).
pub fn run_pdf_tool(cmd: &CertificatesCmd) -> Result<(), Error> {
    let CertificatesCmd::Token {
        file,
        token,
        signature_value,
    } = cmd
    else {
        return Err(Error::Invalid("not a PDF-only command".into()));
    };
    let pdf = std::fs::read(file)
        .map_err(|e| Error::Invalid(format!("cannot read {}: {e}", file.display())))?;
    let (tok, sig) = crate::signature::timestamp_parts(&pdf)
        .map_err(|e| Error::Invalid(format!("{}: {e}", file.display())))?;
    std::fs::write(token, tok)?;
    std::fs::write(signature_value, sig)?;
    Ok(())
}

/// `certd verify`: needs no configuration or database, so a recipient can run it too.
pub fn run_verify(
    file: &std::path::Path,
    trust: &std::path::Path,
    json: bool,
) -> Result<bool, Error> {
    let pdf = std::fs::read(file)
        .map_err(|e| Error::Invalid(format!("cannot read {}: {e}", file.display())))?;
    let anchors = std::fs::read_to_string(trust)
        .map_err(|e| Error::Invalid(format!("cannot read {}: {e}", trust.display())))?;
    let report = crate::signature::verify_pdf(&pdf, &anchors);
    if json {
        print_json(&report)?;
    } else {
        for (check, ok, detail) in &report.checks {
            println!("{} {check}: {detail}", if *ok { "ok  " } else { "FAIL" });
        }
        println!(
            "{}: {}",
            file.display(),
            if report.valid { "VALID" } else { "INVALID" }
        );
    }
    Ok(report.valid)
}

fn unreachable_serve() -> Result<(), Error> {
    Err(Error::Invalid("serve is not an admin command".into()))
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<(), Error> {
    let s = serde_json::to_string_pretty(v).map_err(|e| Error::Invalid(e.to_string()))?;
    println!("{s}");
    Ok(())
}

fn customers(store: &mut Store, cmd: CustomersCmd) -> Result<(), Error> {
    match cmd {
        CustomersCmd::Add {
            name,
            email,
            display_name,
            smtp_logins,
            dkim_domains,
            policy,
            language,
            deadline,
        } => {
            store.add_customer(&NewCustomer {
                name: name.clone(),
                email,
                display_name,
                policy: policy.into(),
                language,
                deadline_secs: deadline as i64,
                smtp_logins,
                dkim_domains,
            })?;
            eprintln!("customer {name} added");
            Ok(())
        }
        CustomersCmd::List { json } => {
            let all = store.customers()?;
            if json {
                return print_json(&all);
            }
            println!(
                "{:<20} {:<6} {:<10} {:<5} {:<30} LOGINS/DOMAINS",
                "NAME", "ACTIVE", "POLICY", "LANG", "EMAIL"
            );
            for c in all {
                println!(
                    "{:<20} {:<6} {:<10} {:<5} {:<30} {}",
                    c.name,
                    if c.active { "yes" } else { "no" },
                    c.policy,
                    c.language,
                    c.email,
                    [c.smtp_logins, c.dkim_domains].concat().join(",")
                );
            }
            Ok(())
        }
        CustomersCmd::Show { name, json } => {
            let c = store
                .customer(&name)?
                .ok_or_else(|| Error::NotFound(format!("no customer named {name:?}")))?;
            if json {
                return print_json(&c);
            }
            println!("name:         {}", c.name);
            println!("email:        {}", c.email);
            println!("display name: {}", c.display_name.as_deref().unwrap_or("-"));
            println!("active:       {}", c.active);
            println!("policy:       {}", c.policy);
            println!("smtp logins:  {}", c.smtp_logins.join(", "));
            println!("dkim domains: {}", c.dkim_domains.join(", "));
            println!("language:     {}", c.language);
            println!("deadline:     {}s", c.deadline_secs);
            println!("created at:   {}", c.created_at);
            Ok(())
        }
        CustomersCmd::Disable { name } => store.set_customer_active(&name, false),
        CustomersCmd::Enable { name } => store.set_customer_active(&name, true),
    }
}

fn contracts(store: &Store, cmd: ContractsCmd) -> Result<(), Error> {
    match cmd {
        ContractsCmd::List {
            state,
            customer,
            limit,
            json,
        } => {
            let list = store.list_contracts(&ListFilter {
                state,
                customer,
                limit,
            })?;
            if json {
                return print_json(&list);
            }
            println!(
                "{:>7} {:<26} {:<12} {:<10} {:<24} DESTINATIONS",
                "SERIAL", "ID", "CUSTOMER", "STATE", "SUBMITTED"
            );
            for c in list {
                println!(
                    "{:>7} {:<26} {:<12} {:<10} {:<24} {}",
                    c.serial,
                    c.id,
                    c.customer,
                    c.state,
                    c.submitted_at,
                    c.destinations.join(",")
                );
            }
            Ok(())
        }
        ContractsCmd::Show { id, json } => {
            let c = store
                .contract(&id)?
                .ok_or_else(|| Error::NotFound(format!("no contract with id or serial {id:?}")))?;
            let events = store.events(&c.summary.id)?;
            let chain = store.verify_chain(&c.summary.id)?;
            if json {
                return print_json(&serde_json::json!({
                    "contract": c,
                    "events": events,
                    "chain": match &chain { Ok(n) => serde_json::json!({"ok": true, "events": n}),
                                            Err(e) => serde_json::json!({"ok": false, "error": e.to_string()}) },
                }));
            }
            println!("contract {} (serial {})", c.summary.id, c.summary.serial);
            println!("  customer:      {} <{}>", c.summary.customer, c.recipient);
            println!("  state:         {}", c.summary.state);
            println!("  submitted:     {}", c.summary.submitted_at);
            println!("  from:          {}", c.envelope_from);
            println!("  authenticated: {} ({})", c.auth_method, c.auth_identity);
            println!("  destinations:  {}", c.summary.destinations.join(", "));
            println!("  subject:       {}", c.summary.subject_text);
            println!(
                "  message:       {} bytes, SHA-256 {}",
                c.raw_size, c.raw_sha256
            );
            for a in &c.attachments {
                println!(
                    "  attachment:    {} ({}, {} bytes) SHA-256 {}",
                    a.filename.as_deref().unwrap_or("-"),
                    a.content_type,
                    a.size,
                    a.sha256
                );
            }
            println!("  events:");
            for e in &events {
                println!("    {:>3} {} {:<16} {}", e.seq, e.at, e.kind, e.data);
            }
            match chain {
                Ok(n) => println!("  hash chain:    intact ({n} events)"),
                Err(e) => {
                    println!("  hash chain:    BROKEN: {e}");
                    return Err(Error::Database(format!("hash chain broken: {e}")));
                }
            }
            Ok(())
        }
    }
}
