use certd::cli::{exit_code, run_admin, Cli, Command};
use certd::config::Config;
use clap::Parser;

fn main() {
    // Behave like a Unix tool when the reader of our output goes away (`| head`): exit
    // quietly instead of panicking in println!.
    // SAFETY: restoring the default disposition of SIGPIPE before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_target(false)
        .init();
    // Commands on a PDF alone need neither configuration nor database.
    if let Command::Certificates(c @ certd::cli::CertificatesCmd::Token { .. }) = &cli.command {
        if let Err(e) = certd::cli::run_pdf_tool(c) {
            eprintln!("certd: {e}");
            std::process::exit(exit_code(&e));
        }
        return;
    }
    if let Command::Verify { file, trust, json } = &cli.command {
        match certd::cli::run_verify(file, trust, *json) {
            Ok(true) => return,
            Ok(false) => std::process::exit(1),
            Err(e) => {
                eprintln!("certd: {e}");
                std::process::exit(exit_code(&e));
            }
        }
    }
    let result = Config::load(&cli.config).and_then(|config| match cli.command {
        Command::Serve => certd::serve(&config),
        cmd => run_admin(&config, cmd),
    });
    if let Err(e) = result {
        eprintln!("certd: {e}");
        std::process::exit(exit_code(&e));
    }
}
