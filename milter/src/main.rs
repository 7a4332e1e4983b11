use certmilter::config::Config;
use clap::Parser;
use std::path::PathBuf;

/// certmilter: Postfix milter for certmail contract traffic.
#[derive(Parser)]
#[command(name = "certmilter", version)]
struct Cli {
    /// Configuration file.
    #[arg(
        long,
        short,
        env = "CERTMILTER_CONFIG",
        default_value = "/etc/certmail/certmilter.toml"
    )]
    config: PathBuf,
    /// Check the configuration and exit.
    #[arg(long)]
    check: bool,
}

fn main() {
    let cli = Cli::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_target(false)
        .init();
    let config = match Config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("certmilter: {e}");
            std::process::exit(6);
        }
    };
    if cli.check {
        println!("certmilter: {} is valid", cli.config.display());
        return;
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("certmilter: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(certmilter::run(config)) {
        eprintln!("certmilter: {e}");
        std::process::exit(1);
    }
}
