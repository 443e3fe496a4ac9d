//! Configuration: defaults, then a TOML file (`--config FILE`), then `DSBACKUP_*` environment
//! variables. Every key is documented in `dsbackup.example.toml` at the repository root.
//! Secrets (`admin_secret`, owner presets) never appear in `Debug` output.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use dsbackup_core::Mode;
use dsbackup_dbsource::{DbKind, DbSource};
use figment::providers::{Format, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::Deserialize;

mod smtp;
pub use smtp::{SmtpConfig, SmtpTls};

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
    /// age recipients (`age1…`) this portal's archives on remote storages are encrypted to;
    /// replaces the top-level `encrypt_to` for this portal.
    #[serde(default)]
    pub encrypt_to: Option<Vec<String>>,
    /// age identity files that may decrypt this portal's archives, besides the top-level ones.
    #[serde(default)]
    pub identity_files: Vec<PathBuf>,
}

/// What kind of data a source is.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// A directory tree, archived file by file.
    Directory,
    /// A PostgreSQL database, archived as a `pg_dump` stream.
    Postgres,
    /// A MySQL or MariaDB database, archived as a `mariadb-dump` stream.
    Mysql,
    /// An SQLite file, archived as a consistent copy made with the online backup API.
    Sqlite,
}

impl SourceKind {
    /// The database engine of a database source; `None` for a directory.
    pub fn database(self) -> Option<DbKind> {
        match self {
            SourceKind::Directory => None,
            SourceKind::Postgres => Some(DbKind::Postgres),
            SourceKind::Mysql => Some(DbKind::Mysql),
            SourceKind::Sqlite => Some(DbKind::Sqlite),
        }
    }
}

/// A source of a portal's backups (`[[portals.sources]]`), or of whole-instance dumps
/// (`[[instance.sources]]`, databases only). A directory takes `path`; PostgreSQL and MySQL take
/// `url` (and optionally `password_file`, `bin_dir`); SQLite takes `path` to the database file.
/// `Debug` never shows a password.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    pub kind: SourceKind,
    /// Unique within the portal (or the instance): `[a-zA-Z0-9_-]`; archived under
    /// `sources/<name>/` (directories) or `databases/<name>/` (databases).
    pub name: String,
    /// The directory, or the SQLite file.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// `postgres://user@host:port/db` or `mysql://user@host:port/db`.
    #[serde(default)]
    pub url: Option<String>,
    /// A file whose first line is the database password.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Where the database client tools are looked for before `PATH`.
    #[serde(default)]
    pub bin_dir: Option<PathBuf>,
}

impl std::fmt::Debug for SourceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.database() {
            Some(db) => db.fmt(f),
            None => f
                .debug_struct("SourceConfig")
                .field("kind", &self.kind)
                .field("name", &self.name)
                .field("path", &self.path)
                .finish(),
        }
    }
}

impl SourceConfig {
    /// The live directory of a directory source; `None` for a database.
    pub fn directory(&self) -> Option<&Path> {
        match self.kind {
            SourceKind::Directory => self.path.as_deref(),
            _ => None,
        }
    }

    /// The database of a database source; `None` for a directory.
    pub fn database(&self) -> Option<DbSource> {
        Some(DbSource {
            kind: self.kind.database()?,
            name: self.name.clone(),
            url: self.url.clone(),
            path: self.path.clone(),
            password_file: self.password_file.clone(),
            bin_dir: self.bin_dir.clone(),
        })
    }

    /// Where the source is, without any credential: the directory or file, or
    /// `scheme://host:port/database` for a server.
    pub fn origin(&self) -> String {
        match (&self.url, &self.path) {
            (Some(url), _) => public_origin(url),
            (None, Some(path)) => path.display().to_string(),
            (None, None) => String::new(),
        }
    }

    /// Checks one source of `owner` (`portal <alias>` or `instance`).
    fn check(&self, owner: &str, format: u32) -> Result<(), ConfigError> {
        let bad = |m: String| ConfigError::Invalid(format!("{owner}: source {:?}: {m}", self.name));
        let Some(db) = self.database() else {
            if self.url.is_some() || self.password_file.is_some() || self.bin_dir.is_some() {
                return Err(bad("a directory source takes `path` only".into()));
            }
            return match &self.path {
                Some(p) if p.is_absolute() => Ok(()),
                _ => Err(bad("a directory source needs an absolute `path`".into())),
            };
        };
        db.validate().map_err(|e| bad(e.to_string()))?;
        if self.path.as_deref().is_some_and(|p| !p.is_absolute()) {
            return Err(bad("`path` must be absolute".into()));
        }
        if format < 2 {
            return Err(bad(
                "database sources need archive_format = 2 (format 1 cannot hold a dump)".into(),
            ));
        }
        Ok(())
    }
}

/// `scheme://host[:port]/database` of a server URL: no user, password or parameters.
fn public_origin(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return String::new();
    };
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!("{scheme}://{host}/{path}")
}

/// Instance-wide settings (`[instance]`).
#[derive(Debug, Clone, Deserialize, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct InstanceConfig {
    /// Databases of the instance itself, archived by whole-instance dumps only, under
    /// `instance/databases/<name>/`.
    #[serde(default)]
    pub sources: Vec<SourceConfig>,
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
    /// The key that seals storage credentials in the catalog: 32 bytes as 64 hex characters
    /// or base64. Empty means `data_dir/secrets.key`, generated on first start; a key given
    /// here (better: in `DSBACKUP_SECRETS_KEY`) keeps it off the data disk.
    pub secrets_key: Secret,
    /// The key that signs download links: 32 bytes as 64 hex characters. Empty means
    /// `data_dir/instance.key`, generated on first start. Nodes that share a catalog must share
    /// it (`DSBACKUP_INSTANCE_KEY`), so a link made by one is honoured by every other.
    pub instance_key: Secret,
    /// Where portals' documents live; empty means `data_dir/portals`. Nodes that share a
    /// catalog must see the same tree here (a shared file system mounted at one path).
    pub portals_dir: PathBuf,
    /// A running job writes a heartbeat to the catalog every second; one whose heartbeat is
    /// older than this many seconds is taken as dead (its node stopped) by any node, which
    /// marks it Failed and frees its portal.
    pub job_lease_secs: u64,
    /// How many scheduled backups this node runs at once; due runs beyond it are left to other
    /// nodes or to this node's next pass.
    pub max_scheduled_jobs: u32,
    /// When set, `GET /metrics` asks for `Authorization: Bearer <metrics_token>`; empty leaves
    /// it open (bind to loopback or put it behind a proxy).
    pub metrics_token: Secret,
    /// Create portal `default` and its owner on an empty data directory.
    pub bootstrap: bool,
    /// `<alias>.<base_domain>` in `Host` selects a portal; empty disables it.
    pub base_domain: String,
    /// Catalog URL; empty means `sqlite:<data_dir>/catalog.db`.
    /// A `Secret`: a PostgreSQL URL may carry the database password.
    pub catalog: Secret,
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
    /// The archive format backups are written in: 2 (the default: header, frames aligned to
    /// entries, index last; every file read once) or 1 (manifest first). Both are read.
    pub archive_format: u32,
    /// URL that notifications are POSTed to as JSON; empty logs them instead.
    pub notify_webhook: String,
    /// The mail server alerts (a failed scheduled backup, a schedule without a success for
    /// twice its period) are also sent through; `[smtp]` in the file.
    pub smtp: SmtpConfig,
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
    /// age recipients (`age1…`) that archives on remote storages are encrypted to (`crypt.rs`);
    /// a `[[portals]]` block can set its own. Empty: archives are stored plain.
    pub encrypt_to: Vec<String>,
    /// age identity files (`AGE-SECRET-KEY-1…` lines) restores decrypt archives with
    /// (`DSBACKUP_AGE_IDENTITY_FILE`, `:`-separated); a `[[portals]]` block can add its own.
    pub identity_files: Vec<PathBuf>,
    /// After a restore switched a database in, keep the previous one (renamed
    /// `<db>__dsb_old_<id>`, `<file>.dsb-old-<id>`) instead of dropping it.
    pub keep_old_databases: bool,
    pub portals: Vec<PortalConfig>,
    /// Instance-level sources (`[[instance.sources]]`).
    pub instance: InstanceConfig,
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
            secrets_key: Secret::default(),
            instance_key: Secret::default(),
            portals_dir: PathBuf::new(),
            job_lease_secs: 30,
            max_scheduled_jobs: 4,
            metrics_token: Secret::default(),
            bootstrap: true,
            base_domain: String::new(),
            catalog: Secret::default(),
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
            archive_format: 2,
            notify_webhook: String::new(),
            smtp: SmtpConfig::default(),
            scheduler_period_secs: 60,
            scheduler_retry_secs: 300,
            missing_archive_checks: 3,
            missing_archive_secs: 86_400,
            restore_quota_bytes: 64 << 30,
            encrypt_to: Vec::new(),
            identity_files: Vec::new(),
            keep_old_databases: false,
            portals: Vec::new(),
            instance: InstanceConfig::default(),
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

/// How a variable's text becomes a value of its key.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Taken as it is (paths, addresses, URLs: their own parsing names the variable on failure).
    Text,
    /// A decimal integer; the key's type bounds it.
    Number,
    /// `true` or `false`, in any case.
    Bool,
    /// An enum value, in any case.
    Choice,
    /// `:`-separated, empty parts dropped.
    List,
}

/// Every variable that sets a file key: `(variable, key, kind)`. Other `DSBACKUP_*` variables
/// are either env-only (`DSBACKUP_OWNER_*` here, `DSBACKUP_LOG*` in the binary) or ignored.
const VARS: &[(&str, &str, Kind)] = &[
    ("DSBACKUP_LISTEN", "listen", Kind::Text),
    ("DSBACKUP_DATA_DIR", "data_dir", Kind::Text),
    ("DSBACKUP_NODE_ID", "node_id", Kind::Text),
    ("DSBACKUP_PUBLIC_URL", "public_url", Kind::Text),
    ("DSBACKUP_MODE", "mode", Kind::Choice),
    ("DSBACKUP_REGISTRATION", "registration", Kind::Choice),
    ("DSBACKUP_BOOTSTRAP", "bootstrap", Kind::Bool),
    ("DSBACKUP_ADMIN_SECRET", "admin_secret", Kind::Text),
    ("DSBACKUP_SECRETS_KEY", "secrets_key", Kind::Text),
    ("DSBACKUP_INSTANCE_KEY", "instance_key", Kind::Text),
    ("DSBACKUP_PORTALS_DIR", "portals_dir", Kind::Text),
    ("DSBACKUP_JOB_LEASE_SECS", "job_lease_secs", Kind::Number),
    (
        "DSBACKUP_MAX_SCHEDULED_JOBS",
        "max_scheduled_jobs",
        Kind::Number,
    ),
    ("DSBACKUP_METRICS_TOKEN", "metrics_token", Kind::Text),
    ("DSBACKUP_BASE_DOMAIN", "base_domain", Kind::Text),
    ("DSBACKUP_CATALOG", "catalog", Kind::Text),
    ("DSBACKUP_NOTIFY_WEBHOOK", "notify_webhook", Kind::Text),
    ("DSBACKUP_SMTP_HOST", "smtp.host", Kind::Text),
    ("DSBACKUP_SMTP_PORT", "smtp.port", Kind::Number),
    ("DSBACKUP_SMTP_FROM", "smtp.from", Kind::Text),
    ("DSBACKUP_SMTP_TO", "smtp.to", Kind::List),
    ("DSBACKUP_SMTP_USER", "smtp.user", Kind::Text),
    ("DSBACKUP_SMTP_PASSWORD", "smtp.password", Kind::Text),
    ("DSBACKUP_SMTP_TLS", "smtp.tls", Kind::Choice),
    (
        "DSBACKUP_SCHEDULER_PERIOD_SECS",
        "scheduler_period_secs",
        Kind::Number,
    ),
    (
        "DSBACKUP_SCHEDULER_RETRY_SECS",
        "scheduler_retry_secs",
        Kind::Number,
    ),
    (
        "DSBACKUP_MISSING_ARCHIVE_CHECKS",
        "missing_archive_checks",
        Kind::Number,
    ),
    (
        "DSBACKUP_MISSING_ARCHIVE_SECS",
        "missing_archive_secs",
        Kind::Number,
    ),
    (
        "DSBACKUP_RESTORE_QUOTA_BYTES",
        "restore_quota_bytes",
        Kind::Number,
    ),
    ("DSBACKUP_LOCAL_ROOTS", "local_roots", Kind::List),
    ("DSBACKUP_AGE_IDENTITY_FILE", "identity_files", Kind::List),
    (
        "DSBACKUP_FREE_BACKUPS_PER_MONTH",
        "free_backups_per_month",
        Kind::Number,
    ),
    (
        "DSBACKUP_RATE_LIMIT_PER_MINUTE",
        "rate_limit_per_minute",
        Kind::Number,
    ),
    ("DSBACKUP_LOGIN_ATTEMPTS", "login_attempts", Kind::Number),
    (
        "DSBACKUP_LOGIN_BLOCK_SECS",
        "login_block_secs",
        Kind::Number,
    ),
];

/// Every `DSBACKUP_*` variable the configuration reads, with the file key it sets (`None` for
/// the environment-only owner presets), for `dsbackup serve --help`.
pub fn variables() -> impl Iterator<Item = (&'static str, Option<&'static str>)> {
    VARS.iter().map(|(var, key, _)| (*var, Some(*key))).chain(
        [
            "DSBACKUP_OWNER_EMAIL",
            "DSBACKUP_OWNER_PASSWORD",
            "DSBACKUP_OWNER_API_KEY",
        ]
        .map(|var| (var, None)),
    )
}

/// The name the environment layer's values carry, to tell its errors from the file's.
const ENV_LAYER: &str = "DSBACKUP_* environment variables";

/// The environment layer: typed values of the variables in [`VARS`], from a given list of
/// pairs rather than the process environment, so tests can pass their own.
struct EnvLayer(Dict);

impl EnvLayer {
    /// Fails on the first variable whose text is not of its key's kind.
    fn new(vars: &[(String, String)]) -> Result<Self, ConfigError> {
        let mut dict = Dict::new();
        for (name, text) in vars {
            let Some((_, key, kind)) = VARS.iter().find(|(var, ..)| var == name) else {
                continue;
            };
            let bad = |message: &str| ConfigError::Env {
                name: name.clone(),
                message: message.to_string(),
            };
            let value = match kind {
                Kind::Text => Value::from(text.clone()),
                Kind::Choice => Value::from(text.trim().to_lowercase()),
                Kind::Bool => {
                    let t = text.trim();
                    if t.eq_ignore_ascii_case("true") {
                        Value::from(true)
                    } else if t.eq_ignore_ascii_case("false") {
                        Value::from(false)
                    } else {
                        return Err(bad("expected true or false"));
                    }
                }
                Kind::Number => match text.parse::<u64>() {
                    Ok(n) => Value::from(n),
                    Err(_) => match text.parse::<i64>() {
                        Ok(n) => Value::from(n),
                        Err(e) => return Err(bad(&e.to_string())),
                    },
                },
                Kind::List => Value::from(
                    text.split(':')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect::<Vec<_>>(),
                ),
            };
            // `table.key` goes into the table, as the file's `[table]` does.
            match key.split_once('.') {
                Some((table, field)) => {
                    let entry = dict
                        .entry(table.to_string())
                        .or_insert_with(|| Value::from(Dict::new()));
                    if let Value::Dict(_, inner) = entry {
                        inner.insert(field.to_string(), value);
                    }
                }
                None => {
                    dict.insert((*key).to_string(), value);
                }
            }
        }
        Ok(Self(dict))
    }
}

impl Provider for EnvLayer {
    fn metadata(&self) -> Metadata {
        Metadata::named(ENV_LAYER)
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.0.clone()))
    }
}

/// Turns a figment error into one that names the variable, or the file and key, at fault.
fn explain(err: figment::Error, file: Option<&Path>) -> ConfigError {
    use figment::error::Kind as Why;
    let key = err.path.join(".");
    let one_of = |expected: &[&str]| expected.join(", ");
    let message = match &err.kind {
        Why::UnknownVariant(found, expected) => {
            format!(
                "unknown value {found:?}, expected one of {}",
                one_of(expected)
            )
        }
        Why::UnknownField(found, expected) => {
            format!(
                "unknown key {found:?}, expected one of {}",
                one_of(expected)
            )
        }
        other => other.to_string(),
    };
    let from_env = err.metadata.as_ref().is_some_and(|m| m.name == ENV_LAYER);
    if from_env && let Some((name, ..)) = VARS.iter().find(|(_, k, _)| *k == key) {
        return ConfigError::Env {
            name: (*name).to_string(),
            message,
        };
    }
    let message = if key.is_empty() {
        message
    } else {
        format!("key {key}: {message}")
    };
    match file {
        Some(path) => ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        },
        None => ConfigError::Invalid(message),
    }
}

impl Config {
    /// Loads defaults, then `file` if given, then the environment (`vars`, usually
    /// `std::env::vars()`), and checks the result. Layering is figment's: the file's keys
    /// over the defaults, the variables of [`VARS`] over the file; `[[portals]]` come only
    /// from the file, the owner presets only from the environment.
    ///
    /// Fails when the file cannot be read or parsed or has an unknown key, a variable has a
    /// bad value, or the combination is inconsistent (e.g. `registration = "secret"` without a
    /// secret).
    pub fn load(
        file: Option<&Path>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let vars: Vec<(String, String)> = vars.into_iter().collect();
        let mut figment = Figment::new();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            figment = figment.merge(Toml::string(&text));
        }
        figment = figment.merge(EnvLayer::new(&vars)?);
        let mut cfg: Config = figment.extract().map_err(|e| explain(e, file))?;
        for (name, value) in vars {
            match name.as_str() {
                "DSBACKUP_OWNER_EMAIL" => cfg.owner.email = Some(value),
                "DSBACKUP_OWNER_PASSWORD" => cfg.owner.password = Some(Secret(value)),
                "DSBACKUP_OWNER_API_KEY" => cfg.owner.api_key = Some(Secret(value)),
                _ => {}
            }
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

    fn check(&self) -> Result<(), ConfigError> {
        if self.registration == Registration::Secret && self.admin_secret.0.len() < 16 {
            return Err(ConfigError::Invalid(
                "registration = \"secret\" needs admin_secret of at least 16 characters".into(),
            ));
        }
        if !self.secrets_key.0.trim().is_empty() {
            crate::secrets::SecretKey::parse(
                &self.secrets_key.0,
                "secrets_key / DSBACKUP_SECRETS_KEY",
            )
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
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
        if self.job_lease_secs < 3 || self.max_scheduled_jobs == 0 {
            return Err(ConfigError::Invalid(
                "job_lease_secs must be at least 3 and max_scheduled_jobs at least 1".into(),
            ));
        }
        if !self.instance_key.0.trim().is_empty() {
            let key = hex::decode(self.instance_key.0.trim()).unwrap_or_default();
            if key.len() < 32 {
                return Err(ConfigError::Invalid(
                    "instance_key / DSBACKUP_INSTANCE_KEY must be 64 hex characters".into(),
                ));
            }
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
        if !(1..=2).contains(&self.archive_format) {
            return Err(ConfigError::Invalid("archive_format must be 1 or 2".into()));
        }
        if let Some(root) = self.local_roots.iter().find(|r| !r.is_absolute()) {
            return Err(ConfigError::Invalid(format!(
                "local_roots must be absolute paths: {}",
                root.display()
            )));
        }
        let recipients = self
            .portals
            .iter()
            .flat_map(|p| p.encrypt_to.iter().flatten());
        crate::crypt::Recipients::parse(
            self.encrypt_to.iter().chain(recipients).map(String::as_str),
        )
        .map_err(|e| ConfigError::Invalid(format!("encrypt_to: {e}")))?;
        let owners = self
            .portals
            .iter()
            .map(|p| (format!("portal {}", p.alias), &p.sources))
            .chain([("instance".to_string(), &self.instance.sources)]);
        for (owner, sources) in owners {
            let mut names = std::collections::HashSet::new();
            for src in sources {
                let ok = !src.name.is_empty()
                    && src
                        .name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                if !ok || !names.insert(src.name.as_str()) {
                    return Err(ConfigError::Invalid(format!(
                        "{owner}: source names must be unique and of [a-zA-Z0-9_-]: {:?}",
                        src.name
                    )));
                }
                if owner == "instance" && src.kind == SourceKind::Directory {
                    return Err(ConfigError::Invalid(format!(
                        "instance: source {:?}: instance sources are databases only",
                        src.name
                    )));
                }
                src.check(&owner, self.archive_format)?;
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

    /// The age recipients archives of portal `alias` (`None`: a dump) are encrypted to.
    pub fn encrypt_to_of(&self, alias: Option<&str>) -> &[String] {
        alias
            .and_then(|a| self.portals.iter().find(|p| p.alias == a))
            .and_then(|p| p.encrypt_to.as_deref())
            .unwrap_or(&self.encrypt_to)
    }

    /// The age identity files a restore of `aliases` decrypts with: the top-level ones, then
    /// each portal's.
    pub fn identity_files_of<'a>(
        &self,
        aliases: impl IntoIterator<Item = &'a str>,
    ) -> Vec<PathBuf> {
        let mut files = self.identity_files.clone();
        for alias in aliases {
            if let Some(p) = self.portals.iter().find(|p| p.alias == alias) {
                files.extend(p.identity_files.iter().cloned());
            }
        }
        files
    }

    /// Where portals' documents live.
    pub fn portals_root(&self) -> PathBuf {
        if self.portals_dir.as_os_str().is_empty() {
            self.data_dir.join("portals")
        } else {
            self.portals_dir.clone()
        }
    }

    /// The catalog URL in effect.
    pub fn catalog_url(&self) -> String {
        if self.catalog.0.is_empty() {
            format!("sqlite:{}", self.data_dir.join("catalog.db").display())
        } else {
            self.catalog.0.clone()
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
        let (_dir, file) = file_with(
            "listen = \"0.0.0.0:9000\"\nmode = \"saas\"\n[[portals]]\nalias = \"a\"\nhosts = [\"h.example\"]\n[[portals.sources]]\nkind = \"directory\"\nname = \"files\"\npath = \"/srv/files\"\n",
        );
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
        assert_eq!(
            cfg.sources_of("a")[0].directory(),
            Some(Path::new("/srv/files"))
        );
        assert_eq!(cfg.listen.port(), 9000);
        assert_eq!(cfg.mode, Mode::Standalone);
        assert!(!cfg.bootstrap);
        assert_eq!(cfg.portals[0].hosts, vec!["h.example".to_string()]);
    }

    #[test]
    fn database_sources_are_checked_and_never_print_their_password() {
        let base = "[[portals]]\nalias = \"a\"\n[[portals.sources]]\n";
        let (_d, file) = file_with(&format!(
            "{base}kind = \"postgres\"\nname = \"appdb\"\nurl = \"postgres://app:s3cr%65t@db.example:5433/app?sslmode=require\"\n\
             [[portals.sources]]\nkind = \"sqlite\"\nname = \"lite\"\npath = \"/srv/app.db\"\n\
             [[instance.sources]]\nkind = \"mysql\"\nname = \"docspace\"\nurl = \"mysql://root@127.0.0.1/onlyoffice\"\n"
        ));
        let cfg = Config::load(Some(&file), Vec::new()).unwrap();
        let srcs = cfg.sources_of("a");
        assert_eq!(srcs[0].origin(), "postgres://db.example:5433/app");
        assert_eq!(srcs[1].origin(), "/srv/app.db");
        assert!(srcs[0].directory().is_none() && srcs[0].database().is_some());
        assert_eq!(
            cfg.instance.sources[0].origin(),
            "mysql://127.0.0.1/onlyoffice"
        );
        let text = format!("{cfg:?}");
        assert!(!text.contains("s3cr"), "{text}");

        for (body, want) in [
            (
                "kind = \"postgres\"\nname = \"pg\"\nurl = \"mysql://h/db\"\n",
                "source \"pg\"",
            ),
            (
                "kind = \"sqlite\"\nname = \"lite\"\npath = \"rel.db\"\n",
                "source \"lite\": `path` must be absolute",
            ),
            (
                "kind = \"directory\"\nname = \"d\"\nurl = \"postgres://h/db\"\n",
                "source \"d\": a directory source takes `path` only",
            ),
            (
                "kind = \"mysql\"\nname = \"my\"\nurl = \"mysql://u:pw0rd@h/\"\n",
                "source \"my\"",
            ),
        ] {
            let (_d, file) = file_with(&format!("{base}{body}"));
            let err = Config::load(Some(&file), Vec::new())
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{err}");
            assert!(!err.contains("pw0rd"), "{err}");
        }
        let (_d, file) = file_with(&format!(
            "archive_format = 1\n{base}kind = \"sqlite\"\nname = \"lite\"\npath = \"/a.db\"\n"
        ));
        let err = Config::load(Some(&file), Vec::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("archive_format = 2"), "{err}");
        let (_d, file) =
            file_with("[[instance.sources]]\nkind = \"directory\"\nname = \"d\"\npath = \"/d\"\n");
        let err = Config::load(Some(&file), Vec::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("databases only"), "{err}");
    }

    fn file_with(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, text).unwrap();
        (dir, file)
    }

    #[test]
    fn layers_are_defaults_then_file_then_env() {
        let (_dir, file) = file_with(
            "zstd_level = 7\nlogin_attempts = 9\nscheduler_period_secs = 10\nregistration = \"open\"\n",
        );
        let cfg = Config::load(
            Some(&file),
            env(&[
                ("DSBACKUP_SCHEDULER_PERIOD_SECS", "20"),
                ("DSBACKUP_LOG", "debug"),
                ("DSBACKUP_UNRELATED", "x"),
                ("HOME", "/root"),
            ]),
        )
        .unwrap();
        assert_eq!(cfg.zstd_level, 7, "file over default");
        assert_eq!(cfg.login_attempts, 9, "file, no variable");
        assert_eq!(cfg.scheduler_period_secs, 20, "variable over file");
        assert_eq!(cfg.registration, Registration::Open);
        assert_eq!(
            cfg.login_block_secs, 60,
            "default, neither file nor variable"
        );
        assert_eq!(cfg.scheduler_retry_secs, 300);
    }

    /// Every variable, with a value other than the default, lands in its key.
    #[test]
    fn every_variable_sets_its_key() {
        type Check = fn(&Config) -> bool;
        let table: &[(&str, &str, Check)] = &[
            ("DSBACKUP_LISTEN", "0.0.0.0:9001", |c| {
                c.listen.port() == 9001
            }),
            ("DSBACKUP_DATA_DIR", "/var/lib/dsb", |c| {
                c.data_dir == Path::new("/var/lib/dsb")
            }),
            ("DSBACKUP_NODE_ID", "007", |c| c.node_id == "007"),
            ("DSBACKUP_PUBLIC_URL", "https://b.example", |c| {
                c.public_url == "https://b.example"
            }),
            ("DSBACKUP_MODE", " SaaS ", |c| c.mode == Mode::Saas),
            ("DSBACKUP_REGISTRATION", "Open", |c| {
                c.registration == Registration::Open
            }),
            ("DSBACKUP_BOOTSTRAP", "FALSE", |c| !c.bootstrap),
            ("DSBACKUP_ADMIN_SECRET", "s3cr3t", |c| {
                c.admin_secret.0 == "s3cr3t"
            }),
            (
                "DSBACKUP_SECRETS_KEY",
                "abababababababababababababababababababababababababababababababab",
                |c| {
                    c.secrets_key.0
                        == "abababababababababababababababababababababababababababababababab"
                },
            ),
            ("DSBACKUP_METRICS_TOKEN", "scrape", |c| {
                c.metrics_token == Secret("scrape".into())
            }),
            ("DSBACKUP_BASE_DOMAIN", "b.example", |c| {
                c.base_domain == "b.example"
            }),
            ("DSBACKUP_CATALOG", "sqlite:/x.db", |c| {
                c.catalog_url() == "sqlite:/x.db"
            }),
            ("DSBACKUP_NOTIFY_WEBHOOK", "http://hook", |c| {
                c.notify_webhook == "http://hook"
            }),
            ("DSBACKUP_SCHEDULER_PERIOD_SECS", "5", |c| {
                c.scheduler_period_secs == 5
            }),
            ("DSBACKUP_SCHEDULER_RETRY_SECS", "6", |c| {
                c.scheduler_retry_secs == 6
            }),
            ("DSBACKUP_MISSING_ARCHIVE_CHECKS", "7", |c| {
                c.missing_archive_checks == 7
            }),
            ("DSBACKUP_MISSING_ARCHIVE_SECS", "8", |c| {
                c.missing_archive_secs == 8
            }),
            ("DSBACKUP_RESTORE_QUOTA_BYTES", "9", |c| {
                c.restore_quota_bytes == 9
            }),
            ("DSBACKUP_LOCAL_ROOTS", "/a::/b/c:", |c| {
                c.local_roots == [PathBuf::from("/a"), PathBuf::from("/b/c")]
            }),
            ("DSBACKUP_AGE_IDENTITY_FILE", "/k/a:/k/b", |c| {
                c.identity_files == [PathBuf::from("/k/a"), PathBuf::from("/k/b")]
            }),
            ("DSBACKUP_FREE_BACKUPS_PER_MONTH", "10", |c| {
                c.free_backups_per_month == 10
            }),
            ("DSBACKUP_RATE_LIMIT_PER_MINUTE", "11", |c| {
                c.rate_limit_per_minute == 11
            }),
            ("DSBACKUP_LOGIN_ATTEMPTS", "12", |c| c.login_attempts == 12),
            (
                "DSBACKUP_INSTANCE_KEY",
                "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
                |c| c.instance_key.0.starts_with("0011"),
            ),
            ("DSBACKUP_PORTALS_DIR", "/shared/portals", |c| {
                c.portals_root() == std::path::Path::new("/shared/portals")
            }),
            ("DSBACKUP_JOB_LEASE_SECS", "45", |c| c.job_lease_secs == 45),
            ("DSBACKUP_MAX_SCHEDULED_JOBS", "7", |c| {
                c.max_scheduled_jobs == 7
            }),
            ("DSBACKUP_LOGIN_BLOCK_SECS", "13", |c| {
                c.login_block_secs == 13
            }),
            ("DSBACKUP_SMTP_HOST", "mail.example.com", |c| {
                c.smtp.host == "mail.example.com" && c.smtp.enabled()
            }),
            ("DSBACKUP_SMTP_PORT", "2525", |c| c.smtp.port() == 2525),
            ("DSBACKUP_SMTP_FROM", "b@example.com", |c| {
                c.smtp.from == "b@example.com"
            }),
            ("DSBACKUP_SMTP_TO", "a@example.com:b@example.com", |c| {
                c.smtp.to == ["a@example.com", "b@example.com"]
            }),
            ("DSBACKUP_SMTP_USER", "mailer", |c| c.smtp.user == "mailer"),
            ("DSBACKUP_SMTP_PASSWORD", "pw", |c| {
                c.smtp.password == Secret("pw".into())
            }),
            ("DSBACKUP_SMTP_TLS", "TLS", |c| c.smtp.tls == SmtpTls::Tls),
            ("DSBACKUP_OWNER_EMAIL", "o@example.com", |c| {
                c.owner.email.as_deref() == Some("o@example.com")
            }),
            ("DSBACKUP_OWNER_PASSWORD", "pw", |c| {
                c.owner.password == Some(Secret("pw".into()))
            }),
            ("DSBACKUP_OWNER_API_KEY", "sk-0123456789abcdefghij", |c| {
                c.owner.api_key == Some(Secret("sk-0123456789abcdefghij".into()))
            }),
        ];
        for (name, value, check) in table {
            let cfg = Config::load(None, env(&[(name, value)]))
                .unwrap_or_else(|e| panic!("{name}={value}: {e}"));
            assert!(check(&cfg), "{name}={value}: {cfg:?}");
            assert!(
                !check(&Config::default()),
                "{name}: pick a non-default value"
            );
        }
        for (var, ..) in VARS {
            assert!(
                table.iter().any(|(name, ..)| name == var),
                "{var} is missing from the table"
            );
        }
    }

    #[test]
    fn bad_values_are_named() {
        for (name, value) in [
            ("DSBACKUP_MODE", "cloud"),
            ("DSBACKUP_REGISTRATION", "sometimes"),
            ("DSBACKUP_BOOTSTRAP", "yes"),
            ("DSBACKUP_LISTEN", "nowhere"),
            ("DSBACKUP_LOGIN_ATTEMPTS", "many"),
            ("DSBACKUP_LOGIN_ATTEMPTS", "99999999999"),
            ("DSBACKUP_RESTORE_QUOTA_BYTES", "-1"),
        ] {
            let err = Config::load(None, env(&[(name, value)])).unwrap_err();
            assert!(
                matches!(&err, ConfigError::Env { name: n, .. } if n == name),
                "{name}={value}: {err}"
            );
            assert!(err.to_string().contains(name), "{err}");
        }
        let err = Config::load(None, env(&[("DSBACKUP_SECRETS_KEY", "short")])).unwrap_err();
        assert!(
            err.to_string().contains("DSBACKUP_SECRETS_KEY") && !err.to_string().contains("short"),
            "{err}"
        );
        let err = Config::load(None, env(&[("DSBACKUP_REGISTRATION", "secret")])).unwrap_err();
        assert!(err.to_string().contains("admin_secret"), "{err}");
        let err = Config::load(None, env(&[("DSBACKUP_OWNER_API_KEY", "abc")])).unwrap_err();
        assert!(err.to_string().contains("sk-"), "{err}");
    }

    #[test]
    fn bad_file_values_name_file_and_key() {
        let (_dir, file) = file_with("zstd_level = \"high\"\n");
        let err = Config::load(Some(&file), Vec::new()).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, ConfigError::Parse { .. }), "{text}");
        assert!(
            text.contains("zstd_level") && text.contains("c.toml"),
            "{text}"
        );
        let (_dir, file) = file_with("listen = \n");
        let err = Config::load(Some(&file), Vec::new()).unwrap_err();
        assert!(matches!(err, ConfigError::Parse { .. }), "{err}");
        let missing = Path::new("/nonexistent/dsbackup.toml");
        let err = Config::load(Some(missing), Vec::new()).unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }), "{err}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        for (text, key) in [
            ("colour = \"blue\"\n", "colour"),
            ("[[portals]]\nalias = \"a\"\nhost = [\"x\"]\n", "host"),
            (
                "[[portals]]\nalias = \"a\"\n[[portals.sources]]\nkind = \"directory\"\nname = \"f\"\npath = \"/f\"\nmode = 1\n",
                "mode",
            ),
            // Presets are environment only.
            ("owner = \"x\"\n", "owner"),
        ] {
            let (_dir, file) = file_with(text);
            let err = Config::load(Some(&file), Vec::new()).unwrap_err();
            assert!(matches!(err, ConfigError::Parse { .. }), "{key}: {err}");
            assert!(err.to_string().contains(key), "{key}: {err}");
        }
    }

    #[test]
    fn secrets_do_not_print() {
        let (_dir, file) = file_with("admin_secret = \"file-secret-0123456789\"\n");
        let err = Config::load(
            Some(&file),
            env(&[
                ("DSBACKUP_OWNER_PASSWORD", "hunter22hunter"),
                ("DSBACKUP_OWNER_API_KEY", "sk-0123456789abcdefghijKEY"),
                ("DSBACKUP_SECRETS_KEY", "c0ffee".repeat(10).as_str()),
            ]),
        )
        .unwrap_err();
        assert!(!err.to_string().contains("c0ffee"), "{err}");
        let cfg = Config::load(
            Some(&file),
            env(&[
                ("DSBACKUP_OWNER_PASSWORD", "hunter22hunter"),
                ("DSBACKUP_OWNER_API_KEY", "sk-0123456789abcdefghijKEY"),
                ("DSBACKUP_SECRETS_KEY", &"5ec7e7".repeat(11)[..64]),
            ]),
        )
        .unwrap();
        let text = format!("{cfg:?}");
        for secret in ["file-secret", "hunter22", "abcdefghijKEY", "5ec7e7"] {
            assert!(!text.contains(secret), "{text}");
        }
        let cfg = Config::load(
            None,
            env(&[("DSBACKUP_ADMIN_SECRET", "0123456789abcdefXYZ")]),
        )
        .unwrap();
        let text = format!("{cfg:?}");
        assert!(!text.contains("0123456789abcdefXYZ"), "{text}");
    }

    /// A PostgreSQL catalog URL is used as given but never printed with the configuration.
    #[test]
    fn the_catalog_url_does_not_print() {
        let url = "postgres://dsb:pg-s3cret@db.example/dsb";
        let cfg = Config::load(None, env(&[("DSBACKUP_CATALOG", url)])).unwrap();
        assert_eq!(cfg.catalog_url(), url);
        assert!(!format!("{cfg:?}").contains("pg-s3cret"));
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
        // `node_id` is left empty, so it became the host name.
        let def = super::Config {
            node_id: cfg.node_id.clone(),
            ..super::Config::default()
        };
        assert_eq!(format!("{cfg:?}"), format!("{def:?}"));
    }
}
