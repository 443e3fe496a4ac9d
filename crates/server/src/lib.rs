//! The dsbackup server: the DocSpace API surface over HTTP (axum on tokio).
//!
//! [`Server::bind`] opens the catalog, runs first-start bootstrap and binds the listener
//! (port 0 works; [`Server::local_addr`] tells the port), then [`Server::run`] serves until the
//! shutdown future completes, finishing requests in flight.

pub mod auth;
pub mod console;
pub mod extract;
pub mod metrics;
pub mod present;
pub mod present_backup;
pub mod ratelimit;
pub mod routes;
pub mod state;
pub mod wire;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;

pub use dsbackup_service::{Config, Service, config};
use dsbackup_service::{backup, bootstrap, datadir, restore, schedule};
pub use state::AppState;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Lock(#[from] datadir::LockError),
    #[error("instance key: {0}")]
    InstanceKey(dsbackup_core::CoreError),
    #[error(transparent)]
    SecretsKey(#[from] dsbackup_service::secrets::SecretError),
    #[error("cannot open the catalog: {0}")]
    Catalog(dsbackup_core::CoreError),
    #[error("first-start bootstrap failed: {0}")]
    Bootstrap(dsbackup_core::CoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A bound, ready-to-run server.
#[derive(Debug)]
pub struct Server {
    listener: tokio::net::TcpListener,
    state: AppState,
    lock: datadir::DataDirLock,
}

impl Server {
    /// Prepares everything and binds the listener.
    ///
    /// The data directory is created owner-only and locked first: a second server on the same
    /// directory stops here, before it could touch the catalog or run recovery.
    ///
    /// Fails when the data directory cannot be created or is locked by another server, the
    /// catalog cannot be opened, the instance key or the secrets key is short or unreadable,
    /// bootstrap fails, or the address cannot be bound.
    pub async fn bind(config: Config) -> Result<Self, StartError> {
        datadir::create_private_dir(&config.data_dir).map_err(|source| StartError::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
        let lock = datadir::DataDirLock::acquire(&config.data_dir)?;
        // Before any job can end, so every outcome is counted.
        metrics::install();
        let catalog = dsbackup_catalog::open(&config.catalog_url())
            .await
            .map_err(StartError::Catalog)?;
        let addr = config.listen;
        let key = match config.instance_key.0.trim() {
            "" => bootstrap::instance_key(&config.data_dir).map_err(StartError::InstanceKey)?,
            // Checked to be at least 32 bytes of hex when the configuration loaded.
            hex_key => hex::decode(hex_key).map_err(|e| {
                StartError::InstanceKey(dsbackup_core::CoreError::Invalid(e.to_string()))
            })?,
        };
        let (secrets_key, _) =
            dsbackup_service::secrets::load_key(&config.secrets_key.0, &config.data_dir)?;
        let sealer = dsbackup_service::secrets::Sealer::new(&secrets_key);
        let service = Service::new(config, catalog, key, sealer);
        restore::swap::recover(&service)
            .await
            .map_err(StartError::Bootstrap)?;
        backup::durable::interrupt_leftovers(&service)
            .await
            .map_err(StartError::Bootstrap)?;
        schedule::leftovers::sweep_at_start(&service).await;
        bootstrap::run(&service)
            .await
            .map_err(StartError::Bootstrap)?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        if let Ok(bound) = listener.local_addr() {
            service.set_bound(bound);
        }
        Ok(Self {
            listener,
            state: AppState::new(service),
            lock,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then lets requests in flight finish.
    ///
    /// Fails only when accepting connections fails fatally.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Self {
            listener,
            state,
            lock,
        } = self;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let scheduler = tokio::spawn(schedule::scheduler::run(state.service().clone(), stop_rx));
        let service = state.service().clone();
        // Job progress goes to the catalog until the jobs were interrupted at shutdown.
        let (flush_stop, flush_rx) = tokio::sync::watch::channel(false);
        let flusher = tokio::spawn(backup::lease::flusher(service.clone(), flush_rx));
        let app = routes::router(state);
        let served = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        })
        .await;
        let _ = scheduler.await;
        service
            .interrupt_jobs(std::time::Duration::from_secs(3))
            .await;
        let _ = flush_stop.send(true);
        let _ = flusher.await;
        // The data directory stays locked until the server has stopped.
        drop(lock);
        served
    }
}

/// Middleware: a span per request (method, path, a short random id) around everything logged
/// while it is served, and one log line when it ends (status, time). Never headers, bodies or
/// query strings, which may carry secrets.
async fn log_request(req: Request, next: Next) -> Response {
    use tracing::Instrument;
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let id = uuid::Uuid::new_v4().simple().to_string();
    let span = tracing::info_span!("request", %method, %path, id = %&id[..8]);
    let started = Instant::now();
    async move {
        let res = next.run(req).await;
        tracing::info!(
            status = res.status().as_u16(),
            ms = started.elapsed().as_millis() as u64,
            "request"
        );
        res
    }
    .instrument(span)
    .await
}
