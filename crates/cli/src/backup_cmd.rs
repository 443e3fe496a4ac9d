//! `dsbackup backup start|progress|cancel|history|delete`: the Backup API from a terminal, with
//! a progress bar while waiting and `--json` for scripts.

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use dsbackup_api_types::backup::{
    BackupHistoryRecordDto, BackupProgressDto, BackupStorageType, DistributedTaskStatus,
};
use reqwest::Method;
use serde_json::{Value, json};

use crate::client::Client;
use crate::words;

/// How to reach the server.
#[derive(Debug, Args)]
pub struct Remote {
    /// Server URL.
    #[arg(
        long,
        env = "DSBACKUP_URL",
        default_value = "http://127.0.0.1:8092",
        global = true
    )]
    pub url: String,
    /// API key (`sk-…`) or session token.
    #[arg(long, env = "DSBACKUP_KEY", global = true, hide_env_values = true)]
    pub key: Option<String>,
    /// Print JSON for scripts instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Start a backup and (unless --no-wait) wait for it with a progress bar.
    Start {
        /// documents, local, datastore (or the DocSpace name or number).
        #[arg(long, default_value = "datastore")]
        storage: String,
        /// Documents: the folder or room id.
        #[arg(long)]
        folder_id: Option<String>,
        /// Local: the server directory.
        #[arg(long)]
        path: Option<String>,
        /// More storageParams as key=value.
        #[arg(long = "param", value_name = "KEY=VALUE")]
        params: Vec<String>,
        /// Back up the whole instance (standalone, instance owner).
        #[arg(long)]
        dump: bool,
        /// Return once started.
        #[arg(long)]
        no_wait: bool,
    },
    /// Show the current job's progress.
    Progress {
        /// The whole-instance dump's job instead of the portal's.
        #[arg(long)]
        dump: bool,
    },
    /// Cancel the running backup (says so when none is running).
    Cancel,
    /// List backups.
    History {
        /// The whole-instance dumps instead of the portal's backups.
        #[arg(long)]
        dump: bool,
    },
    /// Delete one backup by id, or all with --all (which asks first on a terminal).
    Delete {
        /// The backup's id (from `backup history`).
        id: Option<uuid::Uuid>,
        /// Delete every backup of the portal (or, with --dump, every dump).
        #[arg(long, conflicts_with = "id")]
        all: bool,
        /// With --all: do not ask; needed when not on a terminal.
        #[arg(long, requires = "all")]
        yes: bool,
        /// The whole-instance dumps instead of the portal's backups.
        #[arg(long)]
        dump: bool,
    },
}

/// A storage type from a friendly name, the DocSpace name or its number.
pub fn storage_of(name: &str) -> anyhow::Result<BackupStorageType> {
    let alias = match name.to_ascii_lowercase().as_str() {
        "documents" | "room" => "Documents",
        "local" => "Local",
        "datastore" => "DataStore",
        _ => name,
    };
    BackupStorageType::from_name(alias).with_context(|| format!("unknown storage {name:?}"))
}

fn status_name(p: &BackupProgressDto) -> &'static str {
    words::status(p.status)
}

fn print_progress(p: &BackupProgressDto, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(p)?);
    } else {
        println!("{} {} {}%", p.task_id, status_name(p), p.progress);
        if !p.error.is_empty() {
            println!("error: {}", p.error);
        }
        if let Some(w) = &p.warning {
            println!("warning: {w}");
        }
        if !p.link.is_empty() {
            println!("link: {}", p.link);
        }
    }
    Ok(())
}

async fn wait(client: &Client, dump: bool, json: bool) -> anyhow::Result<BackupProgressDto> {
    let bar = (!json).then(|| {
        let b = indicatif::ProgressBar::new(100);
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} [{bar:40}] {pos:>3}% {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let started = std::time::Instant::now();
    loop {
        let p: Option<BackupProgressDto> = client
            .call(
                Method::GET,
                &format!("/api/2.0/backup/getbackupprogress?Dump={dump}"),
                None,
            )
            .await?;
        let Some(p) = p else {
            bail!("the job is gone (canceled)")
        };
        if let Some(b) = &bar {
            b.set_position(p.progress as u64);
            b.set_message(status_name(&p));
        }
        if p.is_completed {
            if let Some(b) = bar {
                b.finish_and_clear();
            }
            return Ok(p);
        }
        tokio::time::sleep(crate::client::poll_pause(started.elapsed())).await;
    }
}

impl Remote {
    /// The key, or an error that says how to give one.
    pub fn key(&self) -> anyhow::Result<String> {
        self.key
            .clone()
            .context("an API key is needed: --key or DSBACKUP_KEY")
    }

    /// A client for the server.
    pub fn client(&self) -> anyhow::Result<Client> {
        Ok(Client::new(&self.url, &self.key()?))
    }
}

/// Whether the portal has a backup job that has not ended.
async fn running(client: &Client) -> anyhow::Result<bool> {
    let p: Option<BackupProgressDto> = client
        .call(Method::GET, "/api/2.0/backup/getbackupprogress", None)
        .await?;
    Ok(p.is_some_and(|p| !p.is_completed))
}

/// The portal's (or with `dump`, the instance's) backup records.
async fn history(client: &Client, dump: bool) -> anyhow::Result<Vec<BackupHistoryRecordDto>> {
    let list: Option<Vec<BackupHistoryRecordDto>> = client
        .call(
            Method::GET,
            &format!("/api/2.0/backup/getbackuphistory?Dump={dump}"),
            None,
        )
        .await?;
    Ok(list.unwrap_or_default())
}

/// Prints where a finished backup's archive is: the file on the server for Local storage
/// (`local_dir` is the `--path` it was written into), else its name and storage (the download link was printed with the progress).
async fn where_it_went(
    client: &Client,
    done: &BackupProgressDto,
    dump: bool,
    local_dir: Option<&str>,
) -> anyhow::Result<()> {
    let Some(r) = history(client, dump)
        .await?
        .into_iter()
        .find(|r| r.id.to_string() == done.task_id)
    else {
        return Ok(());
    };
    match r.storage_type {
        BackupStorageType::Local => {
            let dir = local_dir.unwrap_or_default().trim_end_matches('/');
            println!("archive: {dir}/{} (on the server)", r.file_name);
        }
        other => println!("archive: {} in {}", r.file_name, words::storage(other)),
    }
    Ok(())
}

/// `delete --all`: asks on a terminal; elsewhere it needs `--yes`.
///
/// Fails when standard input is not a terminal.
fn confirm(dump: bool) -> anyhow::Result<bool> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        bail!("delete --all removes every backup: add --yes to confirm (no terminal to ask on)");
    }
    let what = if dump {
        "every dump of the instance"
    } else {
        "every backup of the portal"
    };
    print!("Delete {what}, archives included? [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// Runs one backup subcommand; the process exits non-zero when a backup fails.
pub async fn run(remote: Remote, cmd: BackupCommand) -> anyhow::Result<()> {
    let client = remote.client()?;
    match cmd {
        BackupCommand::Start {
            storage,
            folder_id,
            path,
            params,
            dump,
            no_wait,
        } => {
            let mut list: Vec<Value> = Vec::new();
            if let Some(f) = folder_id {
                list.push(json!({"key": "folderId", "value": f}));
            }
            if let Some(p) = &path {
                list.push(json!({"key": "filePath", "value": p}));
            }
            for kv in params {
                let (k, v) = kv
                    .split_once('=')
                    .with_context(|| format!("--param {kv:?} is not KEY=VALUE"))?;
                list.push(json!({"key": k, "value": v}));
            }
            let body = json!({"storageType": storage_of(&storage)?.value(), "storageParams": list, "dump": dump});
            let started: Option<BackupProgressDto> = client
                .call(Method::POST, "/api/2.0/backup/startbackup", Some(&body))
                .await?;
            let started = started.context("the server returned no job")?;
            let last = if no_wait {
                started
            } else {
                wait(&client, dump, remote.json).await?
            };
            print_progress(&last, remote.json)?;
            if last.status == DistributedTaskStatus::Failted {
                bail!("backup failed: {}", last.error);
            }
            if last.status == DistributedTaskStatus::Completed && !remote.json {
                where_it_went(&client, &last, dump, path.as_deref()).await?;
            }
        }
        BackupCommand::Progress { dump } => {
            let p: Option<BackupProgressDto> = client
                .call(
                    Method::GET,
                    &format!("/api/2.0/backup/getbackupprogress?Dump={dump}"),
                    None,
                )
                .await?;
            match p {
                Some(p) => print_progress(&p, remote.json)?,
                None if remote.json => println!("null"),
                None => println!("no backup job"),
            }
        }
        BackupCommand::Cancel => {
            if !remote.json && !running(&client).await? {
                println!("no backup is running: nothing to cancel");
                return Ok(());
            }
            let done: Option<bool> = client
                .call(Method::POST, "/api/2.0/backup/cancelbackup", None)
                .await?;
            let done = done.unwrap_or(false);
            if remote.json {
                println!("{done}");
            } else {
                println!(
                    "{}",
                    if done {
                        "canceled"
                    } else {
                        "no backup job to cancel"
                    }
                );
            }
        }
        BackupCommand::History { dump } => {
            let mut list = history(&client, dump).await?;
            list.sort_by_key(|r| r.created_on);
            if remote.json {
                println!("{}", serde_json::to_string(&list)?);
            } else {
                for r in &list {
                    println!(
                        "{}  {}  {:<10}  {}",
                        r.id,
                        r.created_on.format("%Y-%m-%d %H:%M:%S"),
                        words::storage(r.storage_type),
                        r.file_name
                    );
                }
                println!("{} backup(s)", list.len());
            }
        }
        BackupCommand::Delete { id, all, yes, dump } => {
            if all && !yes && !confirm(dump)? {
                println!("nothing deleted");
                return Ok(());
            }
            let path = match (id, all) {
                (Some(id), false) => format!("/api/2.0/backup/deletebackup/{id}"),
                (None, true) => format!("/api/2.0/backup/deletebackuphistory?Dump={dump}"),
                _ => bail!("name a backup id, or --all"),
            };
            let done: Option<bool> = client.call(Method::DELETE, &path, None).await?;
            if remote.json {
                println!("{}", done.unwrap_or(false));
            } else {
                println!("deleted");
            }
        }
    }
    Ok(())
}
