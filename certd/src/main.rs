use certd::cli::{run, Cli};
use clap::Parser;

fn main() {
    // Before any thread exists and before any certificate is rendered.
    keep_freed_memory();
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

/// Allocator tuning for certificate rendering, set at the start of the process (the daemon and
/// the CLI commands that render), not by the renderer: it is process-wide.
///
/// krilla deflates every stream (page contents, each font subset, each embedded file) with a
/// fresh compressor, about 300 KB of zeroed buffers each, a dozen per certificate. With its
/// default tunables glibc hands such blocks back to the kernel when they are freed (heap
/// trimming, or mmap above the dynamic threshold), so every certificate paid page faults and
/// zeroing for them again: a third of the rendering time in the profile of
/// `docs/performance.md` (render 14.4 → 8.7 ms, CPU per certificate 9.1 → 6.5 ms with this).
/// Blocks under 4 MiB now come from the heap, and up to 32 MiB of freed heap is kept for
/// the next certificate.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tunables; no other thread exists yet.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 32 << 20);
    }
}
