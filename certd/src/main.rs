use certd::cli::{run, Cli};
use clap::Parser;

fn main() {
    // Before any thread exists and before any certificate is rendered.
    certd::keep_freed_memory();
    // Behave like a Unix tool when the reader of our output goes away (`| head`): exit
    // quietly instead of panicking in println!.
    // SAFETY: restoring the default disposition of SIGPIPE before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // Usage errors exit 2 here (clap), before any file is read.
    let cli = Cli::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_target(false)
        .init();
    std::process::exit(run(cli));
}
