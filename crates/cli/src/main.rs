//! The `dsbackup` binary. `dsbackup serve [--config FILE]` runs the server; `dsbackup backup …`
//! talks to a running one; `secrets rotate` and `catalog migrate` work offline.

mod backup_cmd;
mod catalog_cmd;
mod client;
mod extract_cmd;
mod restore_cmd;
mod schedule_cmd;
mod secrets_cmd;
mod words;

/// mimalloc keeps the server's memory flat across backup jobs: with glibc malloc, buffers freed
/// by one job's threads stayed resident and the peak RSS crept up with every backup.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand};
use dsbackup_server::{Config, Server};

#[derive(Debug, Parser)]
#[command(
    name = "dsbackup",
    version,
    about = "A backup server that speaks the ONLYOFFICE DocSpace Backup API"
)]
struct Cli {
    /// On failure, print every cause on its own line (and the backtrace when
    /// `RUST_BACKTRACE` asks for one), not just the one-line summary.
    #[arg(long, short = 'v', global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (defaults: 127.0.0.1:8092, ./data, SQLite catalog).
    #[command(after_long_help = serve_env_help(), after_help = "Environment variables: see --help.")]
    Serve {
        /// A TOML config file; `DSBACKUP_*` environment variables override it.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Start, watch, cancel, list and delete backups on a running server.
    Backup {
        #[command(flatten)]
        remote: backup_cmd::Remote,
        #[command(subcommand)]
        command: backup_cmd::BackupCommand,
    },
    /// Restore a backup (its history id) or an archive on this machine (uploaded first, with a
    /// progress bar; the server keeps the copy private and removes it after the restore), or
    /// with --server-path an archive already on the server; then wait with a progress bar.
    Restore {
        #[command(flatten)]
        remote: backup_cmd::Remote,
        /// A backup id (from `backup history`) or an archive file on this machine.
        #[arg(required_unless_present = "server_path")]
        what: Option<String>,
        /// An archive on the server (inside its local_roots), instead of one here.
        #[arg(long, value_name = "PATH", conflicts_with = "what")]
        server_path: Option<String>,
        /// A whole-instance dump.
        #[arg(long)]
        dump: bool,
        /// Notify every member when done.
        #[arg(long)]
        notify: bool,
    },
    /// Show, set or delete the automatic backup schedule.
    Schedule {
        #[command(flatten)]
        remote: backup_cmd::Remote,
        #[command(subcommand)]
        command: schedule_cmd::ScheduleCommand,
    },
    /// Apply retention now (expired and surplus scheduled backups, records whose archive has
    /// long been missing, leftovers of dead jobs); with --dry-run, print what would go and why.
    Prune {
        #[command(flatten)]
        remote: backup_cmd::Remote,
        /// Print what would be removed and why, and remove nothing.
        #[arg(long)]
        dry_run: bool,
        /// Mark every record whose archive is not found removed now, instead of after the
        /// server's missing_archive_checks over missing_archive_secs.
        #[arg(long)]
        forget_missing: bool,
    },
    /// Offline catalog moves (`catalog migrate --from sqlite:PATH --to postgres://…`).
    Catalog {
        #[command(subcommand)]
        command: catalog_cmd::CatalogCommand,
    },
    /// Offline key management for stored storage credentials (`secrets rotate`).
    Secrets {
        #[command(subcommand)]
        command: secrets_cmd::SecretsCommand,
    },
    /// Take one file out of a local archive (format 2), reading only the frames it is in.
    Extract {
        /// The archive file (`….tar.zst`).
        archive: PathBuf,
        /// The entry's path inside the archive, e.g. `sources/files/docs/a.txt`.
        entry: String,
        /// Where to write it (standard output when absent).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Check an archive offline: every entry against the manifest or index, every hash, and
    /// optionally the archive's SHA-256.
    Verify {
        /// The archive file (`….tar.zst`, or `….tar.zst.age` when encrypted).
        archive: PathBuf,
        /// The expected SHA-256 (hex) of the whole archive as stored (of the ciphertext when
        /// it is encrypted).
        #[arg(long)]
        sha256: Option<String>,
        /// An age identity file (`age-keygen` format) for an encrypted archive; repeatable.
        #[arg(long, value_name = "FILE")]
        identity: Vec<PathBuf>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a shell completion script (e.g. `dsbackup completions bash >
    /// /etc/bash_completion.d/dsbackup`).
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), e.g. `dsbackup man > /usr/local/share/man/man1/dsbackup.1`.
    Man,
}

/// `serve --help`'s list of the environment variables the configuration reads.
fn serve_env_help() -> String {
    let mut text = String::from(
        "Environment variables (they override the config file; see dsbackup.example.toml):\n",
    );
    for (var, key) in dsbackup_server::config::variables() {
        match key {
            Some(key) => text.push_str(&format!("  {var:<34} {key}\n")),
            None => text.push_str(&format!("  {var:<34} (first start only)\n")),
        }
    }
    text.push_str(&format!(
        "  {:<34} log filter (default info)\n  {:<34} text or json\n",
        "DSBACKUP_LOG", "DSBACKUP_LOG_FORMAT"
    ));
    text
}

/// Logs to stderr, filtered by `DSBACKUP_LOG` (default `info`). `DSBACKUP_LOG_FORMAT`: `text`
/// (the default: human-readable, coloured only on a terminal) or `json` (one object per line,
/// with the fields of the request or job span it was logged in).
///
/// Fails on any other `DSBACKUP_LOG_FORMAT`.
fn init_logging() -> anyhow::Result<()> {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("DSBACKUP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let format = std::env::var("DSBACKUP_LOG_FORMAT").unwrap_or_default();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format.trim().to_ascii_lowercase().as_str() {
        "" | "text" => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        "json" => builder.with_ansi(false).json().init(),
        other => anyhow::bail!("DSBACKUP_LOG_FORMAT must be text or json, not {other:?}"),
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}

async fn serve(config: Option<PathBuf>) -> anyhow::Result<()> {
    let config =
        Config::load(config.as_deref(), std::env::vars()).context("loading configuration")?;
    tracing::info!(mode = ?config.mode, data_dir = %config.data_dir.display(), "starting");
    let server = Server::bind(config).await.context("starting the server")?;
    let addr = server.local_addr()?;
    println!("dsbackup listening on http://{addr}");
    tracing::info!(%addr, "ready");
    server.run(shutdown_signal()).await.context("serving")?;
    Ok(())
}

/// Prints a failure for a person: one line, `error: what: why: …` (the cause chain), whatever
/// `RUST_BACKTRACE` says; with `--verbose`, each cause on its own line and any backtrace.
fn report(e: &anyhow::Error, verbose: bool) {
    if !verbose {
        let line = format!("{e:#}");
        eprintln!(
            "error: {}",
            line.split_whitespace().collect::<Vec<_>>().join(" ")
        );
        return;
    }
    eprintln!("error: {e}");
    for cause in e.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
    if e.backtrace().status() == std::backtrace::BacktraceStatus::Captured {
        eprintln!("\n{}", e.backtrace());
    }
}

fn main() -> ExitCode {
    no_huge_pages();
    let cli = Cli::parse();
    let verbose = cli.verbose;
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report(&e, verbose);
            ExitCode::FAILURE
        }
    }
}

/// Turns transparent huge pages off for this process (what `MIMALLOC_ALLOW_THP=0` does). Where
/// the kernel grants them on `madvise`, mimalloc's arenas were backed by 2 MiB pages, so
/// buffers freed after a backup kept whole huge pages resident (53–72 MiB of them). Five full
/// backups of the bench portal in one server, twice each way: peak RSS 166–167 MiB with them,
/// 133–139 MiB without (resident between backups 104–138 against 88–125 MiB), at the same
/// speed. Nothing here gains from huge pages: buffers are streamed and short-lived. A kernel
/// without the setting leaves things as they were.
fn no_huge_pages() {
    let _ = rustix::thread::disable_transparent_huge_pages(true);
}

fn run(cli: Cli) -> anyhow::Result<()> {
    if matches!(cli.command, Command::Serve { .. }) {
        init_logging()?;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match cli.command {
        Command::Serve { config } => {
            let served = rt.block_on(serve(config));
            // Work still running on blocking threads (a job that did not stop in time) must not
            // hold the process: crash recovery resolves it at the next start.
            rt.shutdown_timeout(std::time::Duration::from_secs(1));
            served
        }
        Command::Backup { remote, command } => rt.block_on(backup_cmd::run(remote, command)),
        Command::Restore {
            remote,
            what,
            server_path,
            dump,
            notify,
        } => {
            let what = match (what, server_path) {
                (_, Some(path)) => restore_cmd::What::ServerPath(path),
                (Some(what), None) => restore_cmd::What::Given(what),
                (None, None) => anyhow::bail!("name a backup id, a file, or --server-path PATH"),
            };
            rt.block_on(restore_cmd::restore(remote, what, dump, notify))
        }
        Command::Verify {
            archive,
            sha256,
            identity,
            json,
        } => restore_cmd::verify(archive, sha256, &identity, json),
        Command::Extract {
            archive,
            entry,
            output,
        } => extract_cmd::extract(archive, entry, output),
        Command::Schedule { remote, command } => rt.block_on(schedule_cmd::run(remote, command)),
        Command::Prune {
            remote,
            dry_run,
            forget_missing,
        } => rt.block_on(schedule_cmd::prune(remote, dry_run, forget_missing)),
        Command::Secrets { command } => rt.block_on(secrets_cmd::run(command)),
        Command::Catalog { command } => rt.block_on(catalog_cmd::run(command)),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "dsbackup",
                &mut std::io::stdout(),
            );
            Ok(())
        }
        Command::Man => clap_mangen::Man::new(Cli::command())
            .render(&mut std::io::stdout())
            .context("writing the manual page"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every argument and option of every subcommand says what it is for.
    #[test]
    fn every_argument_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>, seen: &mut usize) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if matches!(id, "help" | "version") {
                    continue;
                }
                *seen += 1;
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_about().is_none() && sub.get_long_about().is_none() {
                    missing.push(format!("{path} {} (the subcommand)", sub.get_name()));
                }
                walk(sub, &format!("{path} {}", sub.get_name()), missing, seen);
            }
        }
        let mut cmd = Cli::command();
        cmd.build();
        let (mut missing, mut seen) = (Vec::new(), 0);
        walk(&cmd, "dsbackup", &mut missing, &mut seen);
        assert!(seen > 60, "walked {seen} arguments");
        assert!(missing.is_empty(), "without help text: {missing:#?}");
    }

    #[test]
    fn serve_help_lists_the_environment() {
        let text = serve_env_help();
        for var in [
            "DSBACKUP_LISTEN",
            "DSBACKUP_DATA_DIR",
            "DSBACKUP_SMTP_PASSWORD",
            "DSBACKUP_LOG",
        ] {
            assert!(text.contains(var), "{var} in {text}");
        }
    }
}
