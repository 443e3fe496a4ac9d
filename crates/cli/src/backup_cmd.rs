//! `dsbackup backup start|progress|cancel|history|delete`: the Backup API from a terminal, with
//! a progress bar while waiting and `--json` for scripts.

use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use dsbackup_api_types::backup::{BackupHistoryRecordDto, BackupProgressDto, BackupStorageType};
use reqwest::Method;
use serde_json::{Value, json};

use crate::client::Client;

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
        #[arg(long)]
        dump: bool,
    },
    /// Cancel the running backup.
    Cancel,
    /// List backups.
    History {
        #[arg(long)]
        dump: bool,
    },
    /// Delete one backup by id, or all with --all.
    Delete {
        id: Option<uuid::Uuid>,
        #[arg(long, conflicts_with = "id")]
        all: bool,
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
    p.status.name()
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
        tokio::time::sleep(Duration::from_millis(100)).await;
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
            if let Some(p) = path {
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
            if last.status.value() == 4 {
                bail!("backup failed: {}", last.error);
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
            let list: Option<Vec<BackupHistoryRecordDto>> = client
                .call(
                    Method::GET,
                    &format!("/api/2.0/backup/getbackuphistory?Dump={dump}"),
                    None,
                )
                .await?;
            let mut list = list.unwrap_or_default();
            list.sort_by_key(|r| r.created_on);
            if remote.json {
                println!("{}", serde_json::to_string(&list)?);
            } else {
                for r in &list {
                    println!(
                        "{}  {}  {:<10}  {}",
                        r.id,
                        r.created_on.format("%Y-%m-%d %H:%M:%S"),
                        r.storage_type.name(),
                        r.file_name
                    );
                }
                println!("{} backup(s)", list.len());
            }
        }
        BackupCommand::Delete { id, all, dump } => {
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
