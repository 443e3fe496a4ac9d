//! Configuration: defaults, then a TOML file (`--config FILE`), then `DSBACKUP_*` environment
//! variables. Every key is documented in `dsbackup.example.toml` at the repository root.
//! Secrets (`admin_secret`, owner presets) never appear in `Debug` output.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use dsbackup_core::Mode;
use serde::Deserialize;

/// Who may call `POST /apisystem/portal/register`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Registration {
    /// Nobody (the default).
    #[default]
    Closed,
    /// Callers presenting the instance admin secret in `X-Dsbackup-Admin-Secret`.
    Secret,
    /// Anybody: development and test rigs only.
    Open,
}

/// A portal's static settings from the config file.
#[derive(Debug, Clone, Deserialize, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PortalConfig {
    /// The portal this block configures.
    pub alias: String,
    /// Extra `Host` names that select this portal.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Data of the application around the portal that its backups include.
    #[serde(default)]
    pub sources: Vec<SourceConfig>,
    /// What one restore of this portal may stage, in bytes; overrides `restore_quota_bytes`.
    #[serde(default)]
    pub restore_quota_bytes: Option<u64>,
}

/// What kind of data a source is.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// A directory tree, archived file by file.
    Directory,
}

/// A source of a portal's backups.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    pub kind: SourceKind,
    /// Unique within the portal: `[a-zA-Z0-9_-]`; archived under `sources/<name>/`.
    pub name: String,
    pub path: PathBuf,
}

/// `true` or `false`, in any case.
fn parse_bool(v: &str) -> Option<bool> {
    let v = v.trim();
    if v.eq_ignore_ascii_case("true") {
        Some(true)
    } else if v.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// A string that never prints.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            f.write_str("\"\"")
        } else {
            f.write_str("\"<redacted>\"")
        }
    }
}

/// First-start presets for the default portal's owner (environment only).
#[derive(Debug, Clone, Default)]
pub struct OwnerPreset {
    pub email: Option<String>,
    pub password: Option<Secret>,
    pub api_key: Option<Secret>,
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub listen: SocketAddr,
    /// This server's name in the catalog's job records (`DSBACKUP_NODE_ID`); empty means the
    /// host name. Jobs this node left unfinished are marked interrupted when it starts.
    pub node_id: String,
    /// The address clients reach this server at (`https://backup.example.com`), for links
    /// made outside a request (scheduled backups); empty means `http://` + the bound address.
    pub public_url: String,
    pub data_dir: PathBuf,
    pub mode: Mode,
    pub registration: Registration,
    pub admin_secret: Secret,
    /// Create portal `default` and its owner on an empty data directory.
    pub bootstrap: bool,
    /// `<alias>.<base_domain>` in `Host` selects a portal; empty disables it.
    pub base_domain: String,
    /// Catalog URL; empty means `sqlite:<data_dir>/catalog.db`.
    pub catalog: String,
    pub session_ttl_hours: i64,
    pub rate_limit_per_minute: u32,
    /// Failed sign-ins an account, or a client address, may make before it is refused (429).
    pub login_attempts: u32,
    /// Once refused, one more sign-in attempt is allowed every this many seconds.
    pub login_block_secs: u64,
    pub max_body_bytes: usize,
    pub max_upload_bytes: u64,
    /// Directories under which `Local` backups may be written (and restored from).
    pub local_roots: Vec<PathBuf>,
    /// `saas` only: free backups per portal and calendar month (UTC); 0 means no limit.
    pub free_backups_per_month: u32,
    /// `saas` only: backups beyond the allowance are allowed and marked paid.
    pub paid_backup_service: bool,
    /// zstd level of archives (1–19).
    pub zstd_level: i32,
    /// Compression threads per backup; 0 means one per core.
    pub backup_threads: u32,
    /// URL that notifications are POSTed to as JSON; empty logs them instead.
    pub notify_webhook: String,
    /// How often the scheduler looks for due schedules and runs retention, in seconds.
    pub scheduler_period_secs: u64,
    /// How long after a failed scheduled run it is tried again, in seconds.
    pub scheduler_retry_secs: u64,
    /// Retention marks a record whose archive is not found removed only after this many
    /// checks (at least 1) ...
    pub missing_archive_checks: u32,
    /// ... spanning at least this many seconds (a storage outage must not lose history).
    pub missing_archive_secs: u64,
    /// What one restore may stage per portal (documents, sources and catalog rows), in bytes,
    /// whatever the archive declares; a `[[portals]]` block can set its own.
    pub restore_quota_bytes: u64,
    pub portals: Vec<PortalConfig>,
    #[serde(skip)]
    pub owner: OwnerPreset,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8092)),
            node_id: String::new(),
            public_url: String::new(),
            data_dir: PathBuf::from("data"),
            mode: Mode::Standalone,
            registration: Registration::Closed,
            admin_secret: Secret::default(),
            bootstrap: true,
            base_domain: String::new(),
            catalog: String::new(),
            session_ttl_hours: 24 * 20,
            rate_limit_per_minute: 1500,
            login_attempts: 5,
            login_block_secs: 60,
            max_body_bytes: 1 << 20,
            max_upload_bytes: 10 << 30,
            local_roots: Vec::new(),
            free_backups_per_month: 0,
            paid_backup_service: false,
            zstd_level: 3,
            backup_threads: 0,
            notify_webhook: String::new(),
            scheduler_period_secs: 60,
            scheduler_retry_secs: 300,
            missing_archive_checks: 3,
            missing_archive_secs: 86_400,
            restore_quota_bytes: 64 << 30,
            portals: Vec::new(),
            owner: OwnerPreset::default(),
        }
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid environment variable {name}: {message}")]
    Env { name: String, message: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Loads defaults, then `file` if given, then the environment (`vars`, usually
    /// `std::env::vars()`), and checks the result.
    ///
    /// Fails when the file cannot be read or parsed, a variable has a bad value, or the
    /// combination is inconsistent (e.g. `registration = "secret"` without a secret).
    pub fn load(
        file: Option<&Path>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut cfg = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                toml::from_str(&text).map_err(|e| ConfigError::Parse {
                    path: path.to_path_buf(),
                    message: e.message().to_string(),
                })?
            }
            None => Config::default(),
        };
        for (name, value) in vars {
            cfg.apply_env(&name, value)?;
        }
        if cfg.node_id.trim().is_empty() {
            cfg.node_id = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .ok()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "local".into());
        }
        cfg.check()?;
        Ok(cfg)
    }

    fn apply_env(&mut self, name: &str, value: String) -> Result<(), ConfigError> {
        let bad = |message: String| ConfigError::Env {
            name: name.to_string(),
            message,
        };
        let enum_of = |v: &str| format!("\"{}\"", v.trim().to_lowercase());
        match name {
            "DSBACKUP_LISTEN" => self.listen = value.parse().map_err(|e| bad(format!("{e}")))?,
            "DSBACKUP_DATA_DIR" => self.data_dir = PathBuf::from(value),
            "DSBACKUP_NODE_ID" => self.node_id = value,
            "DSBACKUP_PUBLIC_URL" => self.public_url = value,
            "DSBACKUP_MODE" => {
                self.mode = serde_json::from_str(&enum_of(&value))
                    .map_err(|_| bad("expected standalone or saas".into()))?
            }
            "DSBACKUP_REGISTRATION" => {
                self.registration = serde_json::from_str(&enum_of(&value))
                    .map_err(|_| bad("expected closed, secret or open".into()))?
            }
            "DSBACKUP_BOOTSTRAP" => {
                self.bootstrap =
                    parse_bool(&value).ok_or_else(|| bad("expected true or false".into()))?
            }
            "DSBACKUP_ADMIN_SECRET" => self.admin_secret = Secret(value),
            "DSBACKUP_BASE_DOMAIN" => self.base_domain = value,
            "DSBACKUP_CATALOG" => self.catalog = value,
            "DSBACKUP_NOTIFY_WEBHOOK" => self.notify_webhook = value,
            "DSBACKUP_SCHEDULER_PERIOD_SECS" => {
                self.scheduler_period_secs = value.parse().map_err(|e| bad(format!("{e}")))?
            }
            "DSBACKUP_SCHEDULER_RETRY_SECS" => {
                self.scheduler_retry_secs = value.parse().map_err(|e| bad(format!("{e}")))?
            }
            "DSBACKUP_MISSING_ARCHIVE_CHECKS" => {
                self.missing_archive_checks = value.parse().map_err(|e| bad(format!("{e}")))?
            }
            "DSBACKUP_MISSING_ARCHIVE_SECS" => {
                self.missing_archive_secs = value.parse().map_err(|e| bad(format!("{e}")))?
            }
            "DSBACKUP_RESTORE_QUOTA_BYTES" => {
                self.restore_quota_bytes = value.parse().map_err(|e| bad(format!("{e}")))?
            }
            "DSBACKUP_LOCAL_ROOTS" => {
                self.local_roots = value
                    .split(':')
                    .filter(|s| !s.is_empty())
                    .map(PathBuf::from)
                    .collect()
            }
            "DSBACKUP_FREE_BACKUPS_PER_MONTH" => {
                self.free_backups_per_month = value.parse().map_err(|e| bad(format!("{e}")))?
            }
            "DSBACKUP_RATE_LIMIT_PER_MINUTE" => {
                self.rate_limit_per_minute = value.parse().map_err(|e| bad(format!("{e}")))?
            }
            "DSBACKUP_LOGIN_ATTEMPTS" => {
                self.login_attempts = value.parse().map_err(|e| bad(format!("{e}")))?
            }
            "DSBACKUP_LOGIN_BLOCK_SECS" => {
                self.login_block_secs = value.parse().map_err(|e| bad(format!("{e}")))?
            }
            "DSBACKUP_OWNER_EMAIL" => self.owner.email = Some(value),
            "DSBACKUP_OWNER_PASSWORD" => self.owner.password = Some(Secret(value)),
            "DSBACKUP_OWNER_API_KEY" => self.owner.api_key = Some(Secret(value)),
            _ => {}
        }
        Ok(())
    }

    fn check(&self) -> Result<(), ConfigError> {
        if self.registration == Registration::Secret && self.admin_secret.0.len() < 16 {
            return Err(ConfigError::Invalid(
                "registration = \"secret\" needs admin_secret of at least 16 characters".into(),
            ));
        }
        if self.session_ttl_hours <= 0 || self.rate_limit_per_minute == 0 {
            return Err(ConfigError::Invalid(
                "session_ttl_hours and rate_limit_per_minute must be positive".into(),
            ));
        }
        if self.login_attempts == 0 || self.login_block_secs == 0 {
            return Err(ConfigError::Invalid(
                "login_attempts and login_block_secs must be positive".into(),
            ));
        }
        if self.missing_archive_checks == 0 {
            return Err(ConfigError::Invalid(
                "missing_archive_checks must be at least 1".into(),
            ));
        }
        let url = &self.public_url;
        if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ConfigError::Invalid(
                "public_url must start with http:// or https://".into(),
            ));
        }
        if !(1..=19).contains(&self.zstd_level) {
            return Err(ConfigError::Invalid("zstd_level must be 1 - 19".into()));
        }
        if let Some(root) = self.local_roots.iter().find(|r| !r.is_absolute()) {
            return Err(ConfigError::Invalid(format!(
                "local_roots must be absolute paths: {}",
                root.display()
            )));
        }
        for p in &self.portals {
            let mut names = std::collections::HashSet::new();
            for src in &p.sources {
                let ok = !src.name.is_empty()
                    && src
                        .name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                if !ok || !names.insert(src.name.as_str()) {
                    return Err(ConfigError::Invalid(format!(
                        "portal {}: source names must be unique and of [a-zA-Z0-9_-]: {:?}",
                        p.alias, src.name
                    )));
                }
                if !src.path.is_absolute() {
                    return Err(ConfigError::Invalid(format!(
                        "source {} must have an absolute path",
                        src.name
                    )));
                }
            }
        }
        if let Some(key) = &self.owner.api_key
            && (!key.0.starts_with(dsbackup_core::secret::API_KEY_PREFIX) || key.0.len() < 23)
        {
            return Err(ConfigError::Invalid(
                "DSBACKUP_OWNER_API_KEY must start with sk- and carry at least 20 more characters"
                    .into(),
            ));
        }
        Ok(())
    }

    /// The configured sources of a portal.
    pub fn sources_of(&self, alias: &str) -> &[SourceConfig] {
        self.portals
            .iter()
            .find(|p| p.alias == alias)
            .map_or(&[], |p| &p.sources)
    }

    /// What one restore of portal `alias` may stage, in bytes.
    pub fn restore_quota_of(&self, alias: &str) -> u64 {
        self.portals
            .iter()
            .find(|p| p.alias == alias)
            .and_then(|p| p.restore_quota_bytes)
            .unwrap_or(self.restore_quota_bytes)
    }

    /// The catalog URL in effect.
    pub fn catalog_url(&self) -> String {
        if self.catalog.is_empty() {
            format!("sqlite:{}", self.data_dir.join("catalog.db").display())
        } else {
            self.catalog.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn env_overrides_file_and_defaults() {
        let dir = std::env::temp_dir().join(format!("dsb-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(&file, "listen = \"0.0.0.0:9000\"\nmode = \"saas\"\n[[portals]]\nalias = \"a\"\nhosts = [\"h.example\"]\n[[portals.sources]]\nkind = \"directory\"\nname = \"files\"\npath = \"/srv/files\"\n").unwrap();
        let cfg = Config::load(
            Some(&file),
            env(&[
                ("DSBACKUP_MODE", "Standalone"),
                ("DSBACKUP_BOOTSTRAP", "False"),
                ("DSBACKUP_LOCAL_ROOTS", "/a:/b"),
            ]),
        )
        .unwrap();
        assert_eq!(
            cfg.local_roots,
            vec![PathBuf::from("/a"), PathBuf::from("/b")]
        );
        assert_eq!(cfg.sources_of("a")[0].path, PathBuf::from("/srv/files"));
        assert_eq!(cfg.listen.port(), 9000);
        assert_eq!(cfg.mode, Mode::Standalone);
        assert!(!cfg.bootstrap);
        assert_eq!(cfg.portals[0].hosts, vec!["h.example".to_string()]);
    }

    #[test]
    fn bad_values_are_named() {
        let err = Config::load(None, env(&[("DSBACKUP_MODE", "cloud")])).unwrap_err();
        assert!(err.to_string().contains("DSBACKUP_MODE"), "{err}");
        let err = Config::load(None, env(&[("DSBACKUP_REGISTRATION", "secret")])).unwrap_err();
        assert!(err.to_string().contains("admin_secret"), "{err}");
        let err = Config::load(None, env(&[("DSBACKUP_OWNER_API_KEY", "abc")])).unwrap_err();
        assert!(err.to_string().contains("sk-"), "{err}");
    }

    #[test]
    fn secrets_do_not_print() {
        let cfg = Config::load(
            None,
            env(&[
                ("DSBACKUP_ADMIN_SECRET", "0123456789abcdefXYZ"),
                ("DSBACKUP_OWNER_PASSWORD", "hunter22hunter"),
            ]),
        )
        .unwrap();
        let text = format!("{cfg:?}");
        assert!(
            !text.contains("0123456789abcdefXYZ") && !text.contains("hunter22"),
            "{text}"
        );
    }
}

#[cfg(test)]
mod example {
    /// The documented example config parses and equals the defaults it claims.
    #[test]
    fn example_config_is_the_defaults() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dsbackup.example.toml");
        let cfg = super::Config::load(Some(&path), Vec::new()).unwrap();
        let def = super::Config::default();
        assert_eq!(format!("{cfg:?}"), format!("{def:?}"));
    }
}
