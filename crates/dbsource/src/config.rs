//! The configuration of one database source ([`DbSource`]) and its checked, resolved form
//! ([`Conn`]): URL parsing, where the password comes from, and printing that never shows it.

use std::fmt;
use std::path::PathBuf;

use percent_encoding::percent_decode_str;
use serde::{Deserialize, Serialize};

use crate::error::{DbError, Result};
use crate::scrub::Secrets;

/// Which database engine a source is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DbKind {
    /// PostgreSQL (`pg_dump`, `pg_restore`, `psql`).
    Postgres,
    /// MySQL or MariaDB (`mariadb-dump`/`mysqldump`, `mariadb`/`mysql`).
    Mysql,
    /// An SQLite file (through the bundled SQLite; no tool needed).
    Sqlite,
}

impl fmt::Display for DbKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DbKind::Postgres => "postgres",
            DbKind::Mysql => "mysql",
            DbKind::Sqlite => "sqlite",
        })
    }
}

/// One database to back up, as configured (`[[portals.sources]]`).
///
/// The password may be in the URL, in `password_file` (first line), or in the environment
/// (`PGPASSWORD` for PostgreSQL, `MYSQL_PWD` for MySQL), in that order of precedence. It reaches
/// the client tools through their environment, never their command line, and neither `Debug`
/// nor `Display` shows it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbSource {
    /// The engine.
    pub kind: DbKind,
    /// The source's name in the archive (`[A-Za-z0-9_.-]`, at most 64 characters).
    pub name: String,
    /// `postgres://user[:password]@host[:port]/database[?sslmode=..]` or
    /// `mysql://user[:password]@host[:port]/database`; not for SQLite.
    #[serde(default)]
    pub url: Option<String>,
    /// The SQLite database file; only for SQLite.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// A file whose first line is the password; not for SQLite.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// A directory searched for the client tools before `PATH` (for example
    /// `/usr/lib/postgresql/17/bin` when the server is newer than the default `pg_dump`).
    #[serde(default)]
    pub bin_dir: Option<PathBuf>,
}

impl fmt::Debug for DbSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbSource")
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("url", &self.url.as_deref().map(redact_url))
            .field("path", &self.path)
            .field("password_file", &self.password_file)
            .field("bin_dir", &self.bin_dir)
            .finish()
    }
}

impl fmt::Display for DbSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} source {:?} (", self.kind, self.name)?;
        match (&self.url, &self.path) {
            (Some(url), _) => f.write_str(&redact_url(url))?,
            (None, Some(path)) => write!(f, "{}", path.display())?,
            (None, None) => f.write_str("no location")?,
        }
        f.write_str(")")
    }
}

/// The URL with any password replaced by `****`.
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<unparsable url>".to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            let shown = if userinfo.contains(':') { ":****" } else { "" };
            format!("{scheme}://{user}{shown}@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

/// A server connection taken apart: what the client tools are given.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub database: String,
    /// PostgreSQL libpq parameters from the query string, as `(PGxxx variable, value)`.
    pub params: Vec<(&'static str, String)>,
}

/// A checked source: its endpoint or file, and the secrets to scrub from every message.
pub(crate) struct Conn {
    pub name: String,
    pub kind: DbKind,
    pub endpoint: Option<Endpoint>,
    pub path: Option<PathBuf>,
    pub bin_dir: Option<PathBuf>,
    pub secrets: Secrets,
}

/// The longest live database name: the staged copy appends `__dsb_new_` and an 8-character
/// id, and PostgreSQL names stop at 63 bytes (MySQL at 64).
pub(crate) const MAX_DB_NAME: usize = 63 - 18;

impl DbSource {
    /// Checks the configuration without touching the server or files.
    ///
    /// # Errors
    /// [`DbError::Config`] naming the field at fault (a bad name, a URL with the wrong scheme or
    /// no database, `path` on a server source, `url` on SQLite...), or
    /// [`DbError::PasswordFile`] when the password file cannot be read.
    pub fn validate(&self) -> Result<()> {
        self.resolve().map(|_| ())
    }

    /// The URL's database name (PostgreSQL, MySQL) or `None` (SQLite).
    ///
    /// # Errors
    /// As [`DbSource::validate`].
    pub fn database(&self) -> Result<Option<String>> {
        Ok(self.resolve()?.endpoint.map(|e| e.database))
    }

    pub(crate) fn resolve(&self) -> Result<Conn> {
        let name = &self.name;
        let valid_name = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !valid_name {
            return Err(DbError::config(
                name,
                "name must be 1 to 64 characters of A-Z a-z 0-9 _ . -",
            ));
        }
        let mut secrets = Secrets::default();
        match self.kind {
            DbKind::Sqlite => {
                if self.url.is_some() || self.password_file.is_some() {
                    return Err(DbError::config(
                        name,
                        "an sqlite source takes `path` only (no `url` or `password_file`)",
                    ));
                }
                let Some(path) = &self.path else {
                    return Err(DbError::config(name, "an sqlite source needs `path`"));
                };
                if path.file_name().is_none() {
                    return Err(DbError::config(name, "`path` must name a file"));
                }
                Ok(Conn {
                    name: name.clone(),
                    kind: self.kind,
                    endpoint: None,
                    path: Some(path.clone()),
                    bin_dir: None,
                    secrets,
                })
            }
            DbKind::Postgres | DbKind::Mysql => {
                if self.path.is_some() {
                    return Err(DbError::config(
                        name,
                        format!("a {} source takes `url`, not `path`", self.kind),
                    ));
                }
                let Some(url) = &self.url else {
                    return Err(DbError::config(
                        name,
                        format!("a {} source needs `url`", self.kind),
                    ));
                };
                let mut endpoint = parse_url(name, self.kind, url)?;
                if let Some(password) = &endpoint.password {
                    secrets.add(password);
                    secrets.add(url);
                    if let Some(raw) = raw_password(url) {
                        secrets.add(raw);
                    }
                }
                if endpoint.password.is_none()
                    && let Some(file) = &self.password_file
                {
                    let text =
                        std::fs::read_to_string(file).map_err(|source| DbError::PasswordFile {
                            name: name.clone(),
                            path: file.clone(),
                            source,
                        })?;
                    let line = text.lines().next().unwrap_or("").to_owned();
                    secrets.add(&line);
                    endpoint.password = Some(line);
                }
                if endpoint.password.is_none() {
                    let var = match self.kind {
                        DbKind::Postgres => "PGPASSWORD",
                        _ => "MYSQL_PWD",
                    };
                    if let Ok(value) = std::env::var(var)
                        && !value.is_empty()
                    {
                        secrets.add(&value);
                        endpoint.password = Some(value);
                    }
                }
                Ok(Conn {
                    name: name.clone(),
                    kind: self.kind,
                    endpoint: Some(endpoint),
                    path: None,
                    bin_dir: self.bin_dir.clone(),
                    secrets,
                })
            }
        }
    }
}

/// The password as written in the URL (still percent-encoded), to scrub that form too.
fn raw_password(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    let userinfo = authority.rsplit_once('@')?.0;
    Some(userinfo.split_once(':')?.1)
}

fn decode(name: &str, what: &str, s: &str) -> Result<String> {
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| DbError::config(name, format!("url: the {what} is not UTF-8 once decoded")))
}

fn parse_url(name: &str, kind: DbKind, url: &str) -> Result<Endpoint> {
    let bad = |m: &str| DbError::config(name, format!("url {}: {m}", redact_url(url)));
    let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("not a URL"))?;
    let scheme_ok = match kind {
        DbKind::Postgres => matches!(scheme, "postgres" | "postgresql"),
        DbKind::Mysql => matches!(scheme, "mysql" | "mariadb"),
        DbKind::Sqlite => false,
    };
    if !scheme_ok {
        return Err(bad(&format!("scheme {scheme:?} does not fit kind {kind}")));
    }
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let (user, password) = match userinfo {
        None => (None, None),
        Some(u) => match u.split_once(':') {
            Some((u, p)) => (
                Some(decode(name, "user", u)?),
                Some(decode(name, "password", p)?),
            ),
            None => (Some(decode(name, "user", u)?), None),
        },
    };
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| bad("unclosed [ in host"))?;
        (h.to_owned(), after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (decode(name, "host", h)?, Some(p)),
            None => (decode(name, "host", hostport)?, None),
        }
    };
    let port = match port {
        Some(p) => Some(
            p.parse::<u16>()
                .map_err(|_| bad("the port is not a number"))?,
        ),
        None => None,
    };
    let database = decode(name, "database", path)?;
    if database.is_empty() {
        return Err(bad("no database name after the host"));
    }
    if database.len() > MAX_DB_NAME
        || !database
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '$'))
    {
        return Err(bad(&format!(
            "database name must be 1 to {MAX_DB_NAME} characters of A-Z a-z 0-9 _ - $"
        )));
    }
    let mut params = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let var = match (kind, k) {
            (DbKind::Postgres, "sslmode") => "PGSSLMODE",
            (DbKind::Postgres, "sslrootcert") => "PGSSLROOTCERT",
            (DbKind::Postgres, "connect_timeout") => "PGCONNECT_TIMEOUT",
            (DbKind::Postgres, "application_name") => "PGAPPNAME",
            _ => return Err(bad(&format!("unsupported parameter {k:?}"))),
        };
        params.push((var, decode(name, k, v)?));
    }
    Ok(Endpoint {
        host: (!host.is_empty()).then_some(host),
        port,
        user: user.filter(|u| !u.is_empty()),
        password,
        database,
        params,
    })
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
