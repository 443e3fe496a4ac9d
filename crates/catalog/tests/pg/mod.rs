//! Test support for PostgreSQL: whether the server answers (skip, or fail under `CI`), a
//! database per test that drops itself, and a TCP proxy that can cut every connection and
//! refuse new ones, as a server that goes away would.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, OnceCell};
use tokio::task::JoinHandle;

/// The administrative connection of the test server.
const ADMIN: &str = "postgres://postgres@127.0.0.1:5432/postgres";

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

async fn admin() -> Option<tokio_postgres::Client> {
    let mut config: tokio_postgres::Config = ADMIN.parse().ok()?;
    config.connect_timeout(Duration::from_secs(3));
    let (client, conn) = config.connect(tokio_postgres::NoTls).await.ok()?;
    tokio::spawn(conn);
    Some(client)
}

/// Whether PostgreSQL answers at 127.0.0.1:5432; panics instead of `false` under `CI`.
pub async fn up() -> bool {
    static UP: OnceCell<bool> = OnceCell::const_new();
    *UP.get_or_init(|| async {
        let ok = admin().await.is_some();
        if !ok {
            assert!(
                !ci(),
                "PostgreSQL at 127.0.0.1:5432 is not answering and CI is set: the tests need it"
            );
            eprintln!("skipping: PostgreSQL at 127.0.0.1:5432 is not answering (set CI=true to fail instead)");
        }
        ok
    })
    .await
}

/// A database that exists for one test (`dsb_<random>`), dropped with its connections.
pub struct TestDb {
    pub name: String,
}

impl TestDb {
    /// A new empty database; `None` (skip) when PostgreSQL does not answer.
    pub async fn create() -> Option<Self> {
        if !up().await {
            return None;
        }
        let name = format!("dsb_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let client = admin().await.expect("admin connection");
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create database");
        Some(Self { name })
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:5432/{}", self.name)
    }

    /// The URL through a proxy on `port`.
    pub fn url_via(&self, port: u16) -> String {
        format!("postgres://postgres@127.0.0.1:{port}/{}", self.name)
    }

    /// One `bigint` a statement returns.
    pub async fn scalar(&self, sql: &str) -> i64 {
        let (client, conn) = tokio_postgres::connect(&self.url(), tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(conn);
        client.query_one(sql, &[]).await.expect(sql).get(0)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // A runtime of its own: drop may run inside or outside the test's.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                if let Some(client) = admin().await {
                    let _ = client.batch_execute(&sql).await;
                }
            });
        })
        .join();
    }
}

/// A loopback port nothing listens on.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// A TCP proxy to 127.0.0.1:5432 that can be cut (open connections closed, new ones closed
/// at once) and restored.
pub struct Proxy {
    port: u16,
    open: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let open = Arc::new(AtomicBool::new(true));
        let links = Arc::new(Mutex::new(Vec::new()));
        let (open2, links2) = (open.clone(), links.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !open2.load(Ordering::SeqCst) {
                    continue; // dropped: closed at once
                }
                links2.lock().await.push(tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect("127.0.0.1:5432").await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                }));
            }
        });
        Self {
            port,
            open,
            links,
            accept,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Closes every open connection and every new one.
    pub fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        if let Ok(mut links) = self.links.try_lock() {
            for link in links.drain(..) {
                link.abort();
            }
        }
    }

    /// Lets connections through again.
    pub fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}
