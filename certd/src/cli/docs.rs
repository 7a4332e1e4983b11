//! `certd completions` and `certd man`: generated from the same clap definition as `--help`,
//! at install time (see docs/admin-guide.md), so they always describe the installed binary.

use super::Cli;
use crate::error::Error;
use clap::CommandFactory;
use clap_mangen::Man;
use std::io::Write;
use std::path::Path;

pub(super) fn completions(shell: clap_complete::Shell) -> Result<(), Error> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "certd", &mut out);
    std::io::stdout().write_all(&out)?;
    Ok(())
}

/// The sections clap knows nothing about, in roff. `\-` is a real hyphen-minus in roff.
const ROOT_EXTRA: &str = r#".SH "EXIT STATUS"
.TP
\fB0\fR
Success.
.TP
\fB1\fR
The command ran and its answer is negative: an invalid certificate (\fBverify\fR, \fBcertificates verify\fR), a broken hash chain (\fBcontracts show\fR), an unhealthy installation (\fBstatus\fR).
.TP
\fB2\fR
Usage: bad arguments, a malformed contract id, serial, date, address, state or policy, an unreadable input file.
.TP
\fB3\fR
Not found: no such customer, contract, or no certificate for the contract yet.
.TP
\fB4\fR
Conflict: the customer exists already, the export directory is not empty.
.TP
\fB5\fR
Configuration, database, file system or mail failure.
.SH FILES
.TP
\fI/etc/certmail/certd.toml\fR
The configuration (\fB\-\-config\fR, \fBCERTD_CONFIG\fR).
.TP
\fI/var/lib/certmail/certd.sqlite\fR
The database, as named by \fBdatabase\fR in the configuration.
.SH ENVIRONMENT
.TP
\fBCERTD_CONFIG\fR
The configuration file, when \fB\-\-config\fR is not given.
.TP
\fBRUST_LOG\fR
Log level of the daemon (error, warn, info, debug); info by default.
.SH "SEE ALSO"
\fBcertmilter\fR(8), \fBpostconf\fR(5), \fBsqlite3\fR(1); docs/admin\-guide.md and docs/configuration.md in the certmail sources.
"#;

/// certd.1: clap's sections plus exit status, files, environment and references.
fn root_page(cmd: &clap::Command) -> Result<Vec<u8>, Error> {
    let man = Man::new(cmd.clone());
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    man.render_subcommands_section(&mut out)?;
    out.extend_from_slice(ROOT_EXTRA.as_bytes());
    man.render_version_section(&mut out)?;
    Ok(out)
}

/// Writes one page per visible subcommand, recursively (certd-contracts-list.1, ...).
fn sub_pages(cmd: &clap::Command, dir: &Path) -> Result<(), Error> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        Man::new(sub.clone()).generate_to(dir)?;
        sub_pages(sub, dir)?;
    }
    Ok(())
}

/// The command as the man pages see it: built, so that subcommands carry their full names
/// (`certd-contracts-list`), and without clap's `help` subcommand, which has no page.
fn built() -> clap::Command {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

pub(super) fn man(output: Option<&Path>) -> Result<(), Error> {
    let cmd = built();
    let root = root_page(&cmd)?;
    let Some(dir) = output else {
        std::io::stdout().write_all(&root)?;
        return Ok(());
    };
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("certd.1"), &root)?;
    sub_pages(&cmd, dir)?;
    eprintln!("wrote the certd man pages to {}", dir.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roff_text(bytes: &[u8]) -> String {
        String::from_utf8_lossy(bytes).replace("\\-", "-")
    }

    #[test]
    fn the_root_page_names_every_command_and_exit_status() {
        let cmd = built();
        let page = roff_text(&root_page(&cmd).unwrap());
        for sub in cmd.get_subcommands() {
            assert!(page.contains(sub.get_name()), "{} missing", sub.get_name());
        }
        for code in 0..=5 {
            assert!(page.contains(&format!("\\fB{code}\\fR")), "exit {code}");
        }
    }

    #[test]
    fn every_subcommand_gets_a_page_with_its_options() {
        let tmp = tempfile::tempdir().unwrap();
        let cmd = built();
        sub_pages(&cmd, tmp.path()).unwrap();
        let page =
            roff_text(&std::fs::read(tmp.path().join("certd-contracts-list.1")).expect("page"));
        for opt in ["--state", "--since", "--until", "--destination", "--limit"] {
            assert!(page.contains(opt), "{opt} missing");
        }
        assert!(tmp.path().join("certd-customers-set.1").exists());
        assert!(tmp.path().join("certd-status.1").exists());
        assert!(!tmp.path().join("certd-help.1").exists());
    }
}
