//! Reaching PostgreSQL: the catalog URL parsed into a driver configuration with bounded
//! timeouts, the connection pool, the backend's own error type ([`Fail`]) and its one
//! conversion into `CoreError`, which tells "the database does not answer" (`Unavailable`)
//! from everything else and never carries the password.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use dsbackup_core::{CoreError, error_chain};
use tokio_postgres::error::SqlState;

/// How long connecting, waiting for a pooled connection and checking one may take before a
/// call fails as `Unavailable`: a catalog that does not answer must not hold a request.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a call waits for a free connection when all are busy.
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections per process.
pub const POOL_SIZE: usize = 10;

/// A failure inside the PostgreSQL backend, turned into a `CoreError` by [`Scrub::error`].
#[derive(Debug)]
pub enum Fail {
    /// The driver's error: a statement failed or the connection broke.
    Db(tokio_postgres::Error),
    /// No connection could be had from the pool.
    Pool(PoolError),
    /// A domain answer (`NotFound`, `Conflict`, a damaged row) decided by the backend.
    Core(CoreError),
}

impl From<tokio_postgres::Error> for Fail {
    fn from(e: tokio_postgres::Error) -> Self {
        Fail::Db(e)
    }
}

impl From<PoolError> for Fail {
    fn from(e: PoolError) -> Self {
        Fail::Pool(e)
    }
}

impl From<CoreError> for Fail {
    fn from(e: CoreError) -> Self {
        Fail::Core(e)
    }
}

/// A result inside the backend.
pub type PgResult<T> = Result<T, Fail>;

/// Maps a unique violation to `Conflict(message)`; any other failure passes unchanged.
pub fn conflict(message: impl FnOnce() -> String) -> impl FnOnce(tokio_postgres::Error) -> Fail {
    move |e| {
        if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
            Fail::Core(CoreError::Conflict(message()))
        } else {
            Fail::Db(e)
        }
    }
}

/// Whether a driver error means the server cannot be reached or dropped the connection,
/// rather than a statement that failed.
fn unreachable(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    if let Some(code) = e.code() {
        // Class 08 (connection exception), the server shutting down or starting, full.
        return code.code().starts_with("08")
            || [
                SqlState::ADMIN_SHUTDOWN,
                SqlState::CRASH_SHUTDOWN,
                SqlState::CANNOT_CONNECT_NOW,
                SqlState::TOO_MANY_CONNECTIONS,
            ]
            .contains(code);
    }
    let io = std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>());
    // The driver has no public kind; a connect timeout is the one without a cause to look at.
    io || e.to_string() == "timeout waiting for server"
}

/// The secrets of a catalog URL, removed from every error text the backend produces.
#[derive(Clone, Default)]
pub struct Scrub {
    secrets: Vec<String>,
}

impl std::fmt::Debug for Scrub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scrub(..)")
    }
}

impl Scrub {
    /// The password of `url` as written and decoded, from the userinfo or a `password=`
    /// parameter, whether or not the rest of the URL parses.
    pub fn of_url(url: &str) -> Self {
        let mut secrets = Vec::new();
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        let authority = rest.split(['/', '?']).next().unwrap_or("");
        if let Some((userinfo, _)) = authority.rsplit_once('@')
            && let Some((_, password)) = userinfo.split_once(':')
        {
            secrets.push(password.to_string());
        }
        for pair in rest.split(['?', '&', ' ']) {
            if let Some(password) = pair.strip_prefix("password=") {
                secrets.push(password.to_string());
            }
        }
        let decoded: Vec<String> = secrets
            .iter()
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into()
            })
            .collect();
        secrets.extend(decoded);
        secrets.retain(|s| !s.is_empty());
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Self { secrets }
    }

    /// `text` with every secret replaced by `***`.
    pub fn text(&self, text: String) -> String {
        self.secrets.iter().fold(text, |t, s| {
            if t.contains(s) {
                t.replace(s, "***")
            } else {
                t
            }
        })
    }

    /// The one conversion of a backend failure into the domain's error.
    pub fn error(&self, fail: Fail) -> CoreError {
        let chain = |e: &(dyn std::error::Error + 'static)| self.text(error_chain(e));
        match fail {
            Fail::Core(e) => e,
            Fail::Db(e) if unreachable(&e) => {
                CoreError::Unavailable(format!("PostgreSQL catalog: {}", chain(&e)))
            }
            Fail::Db(e) => CoreError::Internal(format!("PostgreSQL catalog: {}", chain(&e))),
            // Refused, timed out, or turned away (authentication, too many clients): at call
            // time all mean the catalog cannot be used now.
            Fail::Pool(PoolError::Backend(e)) => {
                CoreError::Unavailable(format!("PostgreSQL catalog: cannot connect: {}", chain(&e)))
            }
            Fail::Pool(e @ PoolError::Timeout(_)) => CoreError::Unavailable(format!(
                "PostgreSQL catalog: no connection within {}s: {}",
                CONNECT_TIMEOUT.as_secs(),
                self.text(e.to_string())
            )),
            Fail::Pool(e) => {
                CoreError::Internal(format!("PostgreSQL catalog: {}", self.text(e.to_string())))
            }
        }
    }
}

/// Parses a `postgres://` or `postgresql://` URL (libpq's URL form and parameters) into a
/// driver configuration with this crate's timeouts and keepalives.
///
/// Fails with `Invalid` when it does not parse (the message never shows the password), names
/// no database, or requires TLS (connections are plain for now).
pub fn config(url: &str, scrub: &Scrub) -> Result<tokio_postgres::Config, CoreError> {
    let mut config: tokio_postgres::Config = url.parse().map_err(|e: tokio_postgres::Error| {
        CoreError::Invalid(scrub.text(format!("bad PostgreSQL catalog URL: {}", error_chain(&e))))
    })?;
    if config.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
        return Err(CoreError::Invalid(
            "the PostgreSQL catalog does not support TLS yet: sslmode=require cannot be met \
             (use sslmode=disable or prefer on a private network)"
                .into(),
        ));
    }
    if config.get_dbname().is_none() {
        return Err(CoreError::Invalid(
            "the PostgreSQL catalog URL names no database (postgres://user@host/DATABASE)".into(),
        ));
    }
    config
        .connect_timeout(CONNECT_TIMEOUT)
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(30))
        .keepalives_interval(Duration::from_secs(10))
        .keepalives_retries(3)
        .application_name("dsbackup");
    Ok(config)
}

/// A pool of at most [`POOL_SIZE`] connections whose every wait is bounded. Connections are
/// made when first needed, so building it never touches the network.
///
/// Fails with `Internal` only when the pool cannot be built (no runtime).
pub fn pool(config: tokio_postgres::Config) -> Result<Pool, CoreError> {
    let manager = Manager::from_config(
        config,
        tokio_postgres::NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(POOL_SIZE)
        .wait_timeout(Some(WAIT_TIMEOUT))
        .create_timeout(Some(CONNECT_TIMEOUT))
        .recycle_timeout(Some(CONNECT_TIMEOUT))
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|e| CoreError::Internal(format!("building the PostgreSQL pool: {e}")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn passwords_are_found_and_scrubbed() {
        let s = Scrub::of_url("postgres://dsb:p%40ss%2Fw0rd@db.example:5432/cat?sslmode=disable");
        assert_eq!(
            s.text("failed for p@ss/w0rd and p%40ss%2Fw0rd".into()),
            "failed for *** and ***"
        );
        let s = Scrub::of_url("postgresql://db/cat?user=u&password=hunter2");
        assert_eq!(s.text("x hunter2 y".into()), "x *** y");
        let s = Scrub::of_url("postgres://u@db/cat");
        assert_eq!(
            s.text("u@db".into()),
            "u@db",
            "no password, nothing scrubbed"
        );
    }

    #[test]
    fn a_bad_url_is_invalid_and_does_not_show_the_password() {
        let url = "postgres://u:s3cret@db:notaport/cat";
        let err = config(url, &Scrub::of_url(url)).unwrap_err();
        assert!(matches!(err, CoreError::Invalid(_)), "{err:?}");
        assert!(!err.to_string().contains("s3cret"), "{err}");
        let err = config("postgres://u:s3cret@db", &Scrub::of_url("x")).unwrap_err();
        assert!(err.to_string().contains("names no database"), "{err}");
        let err = config("postgres://db/cat?sslmode=require", &Scrub::of_url("x")).unwrap_err();
        assert!(err.to_string().contains("TLS"), "{err}");
    }
}
