//! `dsbackup restore <id | file>` (a history record, or an archive on this machine uploaded in
//! chunks first, with a progress bar), `dsbackup restore --server-path PATH` (an archive already
//! on the server) and the offline `dsbackup verify <archive>`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use dsbackup_api_types::backup::BackupProgressDto;
use reqwest::Method;
use serde_json::{Value, json};

use dsbackup_service::crypt;

use crate::backup_cmd::Remote;

const CHUNK: usize = 10 << 20;

/// Uploads `file` in chunks; the server keeps it private (0600 in its data directory) and
/// removes it when the restore ends.
async fn upload(url: &str, key: &str, file: &Path, bar: bool) -> anyhow::Result<()> {
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
    let bar = bar.then(|| {
        let b = indicatif::ProgressBar::new(size);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "uploading [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
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
        if let Some(b) = &bar {
            b.set_position(sent);
        }
        if v["endUpload"] == true {
            break;
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if sent != size {
        bail!("uploaded {sent} of {size} bytes");
    }
    Ok(())
}

/// What `dsbackup restore` restores.
#[derive(Debug)]
pub enum What {
    /// A history record, or a file on this machine.
    Given(String),
    /// An archive path on the server (Local storage).
    ServerPath(String),
}

/// Runs `dsbackup restore`.
///
/// Fails when a named local file is not there (pointing at `--server-path`), the upload or the
/// restore fails.
pub async fn restore(remote: Remote, what: What, dump: bool, notify: bool) -> anyhow::Result<()> {
    let key = remote.key()?;
    let client = remote.client()?;
    let body = match what {
        What::Given(id) if uuid::Uuid::parse_str(&id).is_ok() => {
            json!({"backupId": id, "storageType": 3, "notify": notify, "dump": dump})
        }
        What::Given(file) => {
            let path = Path::new(&file);
            if !path.is_file() {
                bail!(
                    "{file}: no such file on this machine (for an archive on the server, use \
                     --server-path {file})"
                );
            }
            upload(remote.url.trim_end_matches('/'), &key, path, !remote.json).await?;
            json!({"backupId": "", "storageType": 3, "storageParams": [], "notify": notify, "dump": dump})
        }
        What::ServerPath(path) => {
            json!({"backupId": "", "storageType": 3, "storageParams": [{"key": "filePath", "value": path}], "notify": notify, "dump": dump})
        }
    };
    let _: Option<BackupProgressDto> = client
        .call(Method::POST, "/api/2.0/backup/startrestore", Some(&body))
        .await?;
    let bar = (!remote.json).then(|| indicatif::ProgressBar::new(100));
    let started = std::time::Instant::now();
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
        tokio::time::sleep(crate::client::poll_pause(started.elapsed())).await;
    };
    if remote.json {
        println!("{}", serde_json::to_string(&last)?);
    } else {
        println!(
            "{} {} {}%",
            last.task_id,
            crate::words::status(last.status),
            last.progress
        );
        if let Some(w) = &last.warning {
            println!("note: {w}");
        }
    }
    if last.status.value() != 2 {
        bail!("restore failed: {}", last.error);
    }
    Ok(())
}

/// The first bytes of every archive dsbackup writes: zstd frames, or age when encrypted.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
const AGE_MAGIC: &[u8] = b"age-encryption.org/v1";

/// Tells a file that is no archive of ours (wrong first bytes) from one that is damaged, and
/// rewinds it.
///
/// Fails when the file starts with neither zstd's nor age's magic.
fn check_magic(file: &mut std::fs::File, archive: &Path) -> anyhow::Result<()> {
    use std::io::{Read, Seek};
    let mut head = [0u8; 21];
    let n = file.read(&mut head)?;
    file.rewind()?;
    if !(head[..n].starts_with(&ZSTD_MAGIC) || head[..n].starts_with(AGE_MAGIC)) {
        bail!(
            "{}: not a dsbackup archive (neither zstd-compressed nor age-encrypted)",
            archive.display()
        );
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
    let mut file =
        std::fs::File::open(&archive).with_context(|| format!("opening {}", archive.display()))?;
    check_magic(&mut file, &archive)?;
    // The hash is compared here, after the whole archive was read, to say what was expected.
    let input = crypt::open(
        std::io::BufReader::with_capacity(1 << 20, file),
        None,
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
    let mut report = dsbackup_engine::verify(input, None).map_err(|e| match e {
        dsbackup_engine::EngineError::Corrupt(why) => anyhow::anyhow!(
            "{}: the archive is corrupt: {}",
            archive.display(),
            why.trim_start_matches("not a dsbackup archive: ")
        ),
        other => anyhow::anyhow!("{}: {other}", archive.display()),
    })?;
    if let Some((sha, size)) = stored.and_then(|d| d.get()) {
        (report.sha256, report.size) = (sha, size);
    }
    if let Some(want) = &sha256
        && !want.trim().eq_ignore_ascii_case(&report.sha256)
    {
        bail!(
            "{}: SHA-256 mismatch: expected {}, the archive's is {}",
            archive.display(),
            want.trim().to_uppercase(),
            report.sha256.to_uppercase()
        );
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
