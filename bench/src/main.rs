//! certmail-bench: the measuring half of `contrib/bench` (which starts and stops the services).
//! Each measuring subcommand writes a JSON fragment; `report` merges them into
//! `target/bench/results.json` and prints the table. See docs/performance.md.

mod certs;
mod report;
mod smtp;
mod store_gen;

use clap::{Parser, Subcommand};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

#[derive(Parser)]
#[command(about = "certmail benchmarks (driven by contrib/bench)")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Certificate throughput (render + sign + timestamp), one thread, beside the baselines.
    Certs {
        #[arg(long)]
        key: PathBuf,
        #[arg(long)]
        chain: PathBuf,
        #[arg(long)]
        tsa: String,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Where to write the unsigned PDF (the input of the pyHanko baseline).
        #[arg(long)]
        pdf_out: PathBuf,
        /// Only write the unsigned PDF and exit.
        #[arg(long)]
        pdf_only: bool,
        /// PAdES level: B-T, B-LT or B-LTA (OCSP/CRL from the chain's AIA/CDP URLs).
        #[arg(long, default_value = "B-T")]
        level: certd::signature::Level,
        /// Output of contrib/bench-pyhanko.py.
        #[arg(long)]
        pyhanko: Option<PathBuf>,
        /// Output of `certmail-bench openssl-speed`.
        #[arg(long)]
        openssl: Option<PathBuf>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Runs `openssl speed -mr` (ecdsap256, rsa2048, sha256) and prints the rates as JSON.
    OpensslSpeed {
        #[arg(long, default_value_t = 1)]
        seconds: u32,
    },
    /// Intake latency with concurrent senders, contract vs ordinary mail.
    Intake {
        #[command(flatten)]
        smtp: SmtpArgs,
        /// Concurrency levels, e.g. 1,4,16.
        #[arg(long, value_delimiter = ',', default_value = "1,4,16")]
        senders: Vec<usize>,
        /// Contract submissions per level (as many ordinary mails are sent beside them).
        #[arg(long, default_value_t = 200)]
        messages: usize,
        #[arg(long, default_value_t = 2000)]
        body_bytes: usize,
        /// certd's PID: sample its VmRSS during the run.
        #[arg(long)]
        watch_pid: Option<u32>,
        /// A scratch directory on certd's file system: also time Store::submit alone there.
        #[arg(long)]
        commit_dir: Option<PathBuf>,
        /// The report section's title (default "intake latency").
        #[arg(long)]
        section: Option<String>,
        #[arg(long)]
        out: PathBuf,
    },
    /// One contract with a large attachment; prints JSON.
    Big {
        #[command(flatten)]
        smtp: SmtpArgs,
        #[arg(long, default_value_t = 25_000_000)]
        bytes: usize,
    },
    /// Fills a store with contracts through the store API; prints JSON.
    StoreGen {
        /// A SQLite file, or (with --url) nothing.
        #[arg(long, required_unless_present = "url")]
        db: Option<PathBuf>,
        /// A store URL instead (postgresql://…).
        #[arg(long)]
        url: Option<String>,
        #[arg(long, default_value_t = 1_000_000)]
        contracts: usize,
    },
    /// Runs a command RUNS times (after one warm-up) and prints a table row (JSON) with the
    /// median wall time and the child's peak RSS.
    #[command(name = "time-cmd")]
    Timed {
        #[arg(long)]
        label: String,
        #[arg(long, default_value_t = 10)]
        runs: usize,
        /// Time it whatever its exit status (`certd status` exits 1 when unhealthy).
        #[arg(long)]
        any_exit: bool,
        #[arg(trailing_var_arg = true, required = true)]
        command: Vec<String>,
    },
    /// Pass-through messages/s samples per configuration -> fragment with medians and ratios.
    Passthrough {
        #[arg(long, value_delimiter = ',')]
        a: Vec<f64>,
        #[arg(long, value_delimiter = ',')]
        b: Vec<f64>,
        #[arg(long, value_delimiter = ',')]
        c: Vec<f64>,
        /// Optional: certmilter before a change (BENCH_MILTER_BEFORE in contrib/bench).
        #[arg(long, value_delimiter = ',')]
        d: Vec<f64>,
        #[arg(long, default_value = "")]
        note: String,
        #[arg(long, default_value = "pass-through")]
        section: String,
        /// Whether this section carries the b/a floor.
        #[arg(long)]
        floor: bool,
        #[arg(long)]
        out: PathBuf,
    },
    /// A fragment from a file of JSON rows, one per line.
    Fragment {
        #[arg(long)]
        section: String,
        #[arg(long)]
        rows: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Merges fragments into results.json and prints the table.
    Report {
        #[arg(long)]
        machine: PathBuf,
        #[arg(long)]
        out: PathBuf,
        fragments: Vec<PathBuf>,
    },
}

#[derive(clap::Args)]
struct SmtpArgs {
    #[arg(long)]
    port: u16,
    /// A second node's contract listener: every other sender submits there.
    #[arg(long)]
    also_port: Option<u16>,
    #[arg(long, default_value = "alice")]
    user: String,
    #[arg(long)]
    password: String,
    #[arg(long, default_value = "alice@example.test")]
    from: String,
    #[arg(long, default_value = "alice@contract.test")]
    contract_to: String,
    #[arg(long, default_value = "carol@example.test")]
    plain_to: String,
    #[arg(long, default_value = "bob@example.test")]
    counterparty: String,
}

fn read_json(p: &PathBuf) -> Result<Value, String> {
    let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))
}

fn write_json(p: &PathBuf, v: &Value) -> Result<(), String> {
    let text = serde_json::to_string_pretty(v).map_err(|e| e.to_string())?;
    std::fs::write(p, text + "\n").map_err(|e| format!("{}: {e}", p.display()))
}

fn intake_args<'a>(s: &'a SmtpArgs, senders: &'a [usize]) -> smtp::IntakeArgs<'a> {
    smtp::IntakeArgs {
        port: s.port,
        also_port: s.also_port,
        section: "intake latency".into(),
        user: &s.user,
        password: &s.password,
        from: &s.from,
        contract_to: &s.contract_to,
        plain_to: &s.plain_to,
        counterparty: &s.counterparty,
        senders,
        messages_per_level: 0,
        body_bytes: 0,
        watch_pid: None,
    }
}

/// Runs `command` once to warm up, then `runs` times; median and min wall ms, max child RSS.
fn time_cmd(label: &str, runs: usize, any_exit: bool, command: &[String]) -> Result<Value, String> {
    let run = || -> Result<f64, String> {
        let t = Instant::now();
        let out = Command::new(&command[0])
            .args(&command[1..])
            .output()
            .map_err(|e| format!("{}: {e}", command[0]))?;
        let ms = t.elapsed().as_secs_f64() * 1e3;
        if !out.status.success() && !any_exit {
            return Err(format!(
                "{label}: {:?} failed: {}",
                command,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(ms)
    };
    run()?;
    let mut samples = Vec::new();
    for _ in 0..runs.max(1) {
        samples.push(run()?);
    }
    // SAFETY: getrusage writes into the struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) };
    let med = report::median(&samples);
    let min = samples.iter().cloned().fold(f64::INFINITY, f64::min);
    let mut r = report::row(
        label,
        med,
        "ms",
        &format!(
            "median of {}, min {min:.1} ms; peak RSS of the CLI {:.1} MiB",
            samples.len(),
            u.ru_maxrss as f64 / 1024.0
        ),
    );
    r["samples_ms"] = json!(samples);
    Ok(r)
}

fn main() {
    // The same allocator tuning as certd's, so that rendering is measured as it runs there.
    certd::keep_freed_memory();
    if let Err(e) = run(Cli::parse()) {
        eprintln!("certmail-bench: {e}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.cmd {
        Cmd::Certs {
            key,
            chain,
            tsa,
            seconds,
            pdf_out,
            pdf_only,
            level,
            pyhanko,
            openssl,
            out,
        } => {
            if pdf_only {
                let pdf = certd::certificate::render::render(&certs::sample_data(1))
                    .map_err(|e| e.to_string())?;
                return std::fs::write(&pdf_out, pdf).map_err(|e| e.to_string());
            }
            let frag = certs::run(&certs::Args {
                key: &key,
                chain: &chain,
                tsa_url: &tsa,
                level,
                seconds,
                unsigned_pdf_out: &pdf_out,
                pyhanko: pyhanko.as_ref().map(read_json).transpose()?,
                openssl: openssl.as_ref().map(read_json).transpose()?,
            })?;
            write_json(&out, &frag)
        }
        Cmd::OpensslSpeed { seconds } => {
            let mut text = String::new();
            for args in [
                vec!["-bytes", "16384", "sha256"],
                vec!["ecdsap256", "rsa2048"],
            ] {
                let out = Command::new("openssl")
                    .args(["speed", "-mr", "-seconds", &seconds.to_string()])
                    .args(args)
                    .output()
                    .map_err(|e| format!("openssl speed: {e}"))?;
                text.push_str(&String::from_utf8_lossy(&out.stdout));
            }
            println!("{}", certs::parse_openssl_speed(&text));
            Ok(())
        }
        Cmd::Intake {
            smtp: s,
            senders,
            messages,
            body_bytes,
            watch_pid,
            commit_dir,
            section,
            out,
        } => {
            let mut a = intake_args(&s, &senders);
            if let Some(title) = section {
                a.section = title;
            }
            a.messages_per_level = messages;
            a.body_bytes = body_bytes;
            a.watch_pid = watch_pid;
            let mut frag = smtp::intake(&a)?;
            if let Some(dir) = commit_dir {
                let rows = store_gen::commit_latency(&dir, messages.max(50))?;
                frag["rows"].as_array_mut().expect("rows").extend(rows);
            }
            write_json(&out, &frag)
        }
        Cmd::Big { smtp: s, bytes } => {
            let (eod, total, size) = smtp::big_contract(&intake_args(&s, &[]), bytes)?;
            println!(
                "{}",
                json!({ "eod_ms": eod, "total_ms": total, "message_bytes": size, "attachment_bytes": bytes })
            );
            Ok(())
        }
        Cmd::StoreGen { db, url, contracts } => {
            let location = match (url, db) {
                (Some(u), _) => certd::store::Location::parse(&u).map_err(|e| e.to_string())?,
                (None, Some(d)) => certd::store::Location::Sqlite(d),
                (None, None) => return Err("--db or --url".into()),
            };
            println!("{}", store_gen::generate(&location, contracts)?);
            Ok(())
        }
        Cmd::Timed {
            label,
            runs,
            any_exit,
            command,
        } => {
            println!("{}", time_cmd(&label, runs, any_exit, &command)?);
            Ok(())
        }
        Cmd::Passthrough {
            a,
            b,
            c,
            d,
            note,
            section,
            floor,
            out,
        } => {
            let (ma, mb, mc) = (report::median(&a), report::median(&b), report::median(&c));
            let n = a.len();
            let mut rows = vec![
                report::row(
                    "(a) no milter",
                    ma,
                    "msg/s",
                    &format!("median of {n}; {note}"),
                ),
                report::row(
                    "(b) certmilter (certd running)",
                    mb,
                    "msg/s",
                    &format!("median of {}", b.len()),
                ),
                report::row(
                    "(c) OpenDKIM, verify mode",
                    mc,
                    "msg/s",
                    &format!("median of {}", c.len()),
                ),
                if floor {
                    report::floor_row("ratio b/a", mb / ma, "ratio", ">= 0.95", mb / ma >= 0.95)
                } else {
                    report::row("ratio b/a", mb / ma, "ratio", "")
                },
                report::row(
                    "ratio c/a",
                    mc / ma,
                    "ratio",
                    "the peer milter, for comparison",
                ),
            ];
            // Rounds are interleaved (a, b, c[, d] in each): the median of the per-round ratios
            // shows how much the machine's load drifted between rounds.
            let per_round = |x: &[f64]| {
                let r: Vec<f64> = x.iter().zip(&a).map(|(x, a)| x / a).collect();
                report::median(&r)
            };
            rows.push(report::row(
                "b/a, median of per-round ratios",
                per_round(&b),
                "ratio",
                "same rounds; differs from b/a above when the load drifts",
            ));
            rows.push(report::row(
                "c/a, median of per-round ratios",
                per_round(&c),
                "ratio",
                "",
            ));
            if !d.is_empty() {
                rows.push(report::row(
                    "d/a, median of per-round ratios",
                    per_round(&d),
                    "ratio",
                    "",
                ));
                let md = report::median(&d);
                rows.push(report::row(
                    "(d) certmilter before the change, same run",
                    md,
                    "msg/s",
                    &format!("median of {}", d.len()),
                ));
                rows.push(report::row("ratio d/a", md / ma, "ratio", "before"));
            }
            let frag = report::fragment(
                &section,
                rows,
                json!({ "a_msgs_per_s": a, "b_msgs_per_s": b, "c_msgs_per_s": c, "d_msgs_per_s": d }),
            );
            write_json(&out, &frag)
        }
        Cmd::Fragment { section, rows, out } => {
            let text = std::fs::read_to_string(&rows).map_err(|e| e.to_string())?;
            let rows = text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| serde_json::from_str(l).map_err(|e| format!("{l}: {e}")))
                .collect::<Result<Vec<Value>, String>>()?;
            write_json(&out, &report::fragment(&section, rows, json!({})))
        }
        Cmd::Report {
            machine,
            out,
            fragments,
        } => {
            let frags = fragments
                .iter()
                .filter(|p| p.exists())
                .map(read_json)
                .collect::<Result<Vec<_>, _>>()?;
            let results = report::merge(read_json(&machine)?, frags);
            write_json(&out, &results)?;
            print!("{}", report::table(&results));
            Ok(())
        }
    }
}
