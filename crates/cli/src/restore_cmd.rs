//! `dsbackup restore <id | file>` (a history record, a server-side archive path, or a local
//! archive uploaded in chunks first) and the offline `dsbackup verify <archive>`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use dsbackup_api_types::backup::BackupProgressDto;
use reqwest::Method;
use serde_json::{Value, json};

use dsbackup_service::crypt;

use crate::backup_cmd::Remote;

const CHUNK: usize = 10 << 20;

async fn upload(url: &str, key: &str, file: &Path) -> anyhow::Result<()> {
    let size = std::fs::metadata(file)
        .with_context(|| format!("reading {}", file.display()))?
        .len();
    let http = reqwest::Client::new();
    let init = http
        .post(format!(
            "{url}/backupFileUpload.ashx?Init=true&totalSize={size}&extension=tar.zst"
        ))
        .header("Authorization", key)
        .send()
        .await?;
    if !init.status().is_success() {
        bail!(
            "upload refused: HTTP {} {}",
            init.status().as_u16(),
            init.text().await.unwrap_or_default()
        );
    }
    let mut f = tokio::fs::File::open(file).await?;
    let mut sent = 0u64;
    loop {
        let mut buf = vec![0u8; CHUNK];
        let n = tokio::io::AsyncReadExt::read(&mut f, &mut buf).await?;
        if n == 0 {
            break;
        }
        buf.truncate(n);
        let res = http
            .post(format!("{url}/backupFileUpload.ashx"))
            .header("Authorization", key)
            .body(buf)
            .send()
            .await?;
        let v: Value = res.json().await.context("upload answer")?;
        if v["success"] != true {
            bail!("upload failed: {v}");
        }
        sent += n as u64;
        if v["endUpload"] == true {
            break;
        }
    }
    if sent != size {
        bail!("uploaded {sent} of {size} bytes");
    }
    Ok(())
}

/// Runs `dsbackup restore`.
pub async fn restore(remote: Remote, what: String, dump: bool, notify: bool) -> anyhow::Result<()> {
    let key = remote.key()?;
    let client = remote.client()?;
    let body = if uuid::Uuid::parse_str(&what).is_ok() {
        json!({"backupId": what, "storageType": 3, "notify": notify, "dump": dump})
    } else if Path::new(&what).is_file() {
        upload(remote.url.trim_end_matches('/'), &key, Path::new(&what)).await?;
        json!({"backupId": "", "storageType": 3, "storageParams": [], "notify": notify, "dump": dump})
    } else {
        json!({"backupId": "", "storageType": 3, "storageParams": [{"key": "filePath", "value": what}], "notify": notify, "dump": dump})
    };
    let _: Option<BackupProgressDto> = client
        .call(Method::POST, "/api/2.0/backup/startrestore", Some(&body))
        .await?;
    let bar = (!remote.json).then(|| indicatif::ProgressBar::new(100));
    let last = loop {
        let p: Option<BackupProgressDto> = client
            .call(
                Method::GET,
                &format!("/api/2.0/backup/getrestoreprogress?Dump={dump}"),
                None,
            )
            .await?;
        let Some(p) = p else {
            bail!("the restore job is gone")
        };
        if let Some(b) = &bar {
            b.set_position(p.progress as u64);
        }
        if p.is_completed {
            if let Some(b) = bar {
                b.finish_and_clear();
            }
            break p;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    if remote.json {
        println!("{}", serde_json::to_string(&last)?);
    } else {
        println!("{} {} {}%", last.task_id, last.status.name(), last.progress);
        if let Some(w) = &last.warning {
            println!("note: {w}");
        }
    }
    if last.status.value() != 2 {
        bail!("restore failed: {}", last.error);
    }
    Ok(())
}

/// Runs `dsbackup verify`: checks an archive offline, decrypting an age-encrypted one with
/// `identities` (the SHA-256 checked and shown is then of the stored, encrypted bytes).
pub fn verify(
    archive: PathBuf,
    sha256: Option<String>,
    identities: &[PathBuf],
    json_out: bool,
) -> anyhow::Result<()> {
    let file =
        std::fs::File::open(&archive).with_context(|| format!("opening {}", archive.display()))?;
    let input = crypt::open(
        std::io::BufReader::with_capacity(1 << 20, file),
        sha256.as_deref(),
        || crypt::Identities::load(identities),
    )
    .map_err(|e| match e {
        crypt::CryptError::NoIdentity if identities.is_empty() => anyhow::anyhow!(
            "{}: the archive is encrypted (age); give its identity file with --identity FILE",
            archive.display()
        ),
        crypt::CryptError::NoIdentity => anyhow::anyhow!(
            "{}: the archive is encrypted to recipients none of the --identity files match",
            archive.display()
        ),
        other => anyhow::anyhow!("{}: {other}", archive.display()),
    })?;
    let encrypted = input.is_encrypted();
    let stored = input.stored_digest();
    let expect = input.engine_expect(sha256.as_deref());
    let mut report = dsbackup_engine::verify(input, expect)
        .map_err(|e| anyhow::anyhow!("{}: {e}", archive.display()))?;
    if let Some((sha, size)) = stored.and_then(|d| d.get()) {
        (report.sha256, report.size) = (sha, size);
    }
    if json_out {
        println!(
            "{}",
            json!({"ok": true, "encrypted": encrypted, "entries": report.entries, "contentBytes": report.content_bytes, "sha256": report.sha256, "size": report.size,
                   "portal": report.manifest.portal.as_ref().map(|p| p.alias.clone()), "dump": report.manifest.dump, "formatVersion": report.manifest.format_version})
        );
    } else {
        println!(
            "{}: OK — {} entries, {} content bytes, archive {} bytes{}, SHA-256 {}",
            archive.display(),
            report.entries,
            report.content_bytes,
            report.size,
            if encrypted { " (age-encrypted)" } else { "" },
            report.sha256
        );
    }
    Ok(())
}
