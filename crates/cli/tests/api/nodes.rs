//! Several `dsbackup serve` nodes on one catalog (a fresh database on this machine's
//! PostgreSQL; an SQLite file when PostgreSQL does not answer outside CI), one S3 bucket (moto)
//! and one shared portals directory, each a real process with its own data directory: sessions and keys work on every
//! node, a due schedule runs exactly once on some node, progress and cancel reach across nodes,
//! a restore gates its portal everywhere, and a node killed mid-backup loses its job to a
//! survivor, which fails it, leaves no object behind, and runs the schedule again.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::Timelike;
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::*;
use crate::pgdb::CatalogDb;
use crate::servers::*;

const INSTANCE_KEY: &str = "4f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0";
const SECRETS_KEY: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff1";

/// What the nodes of one test share.
struct Shared {
    dir: tempfile::TempDir,
    catalog: String,
    moto: Moto,
    _pg: Option<CatalogDb>,
}

impl Shared {
    async fn new() -> Option<Self> {
        let moto = moto().await?;
        let dir = tempfile::tempdir().unwrap();
        let pg = CatalogDb::create();
        let catalog = match &pg {
            Some(db) => db.url(),
            None => format!("sqlite:{}", dir.path().join("catalog.db").display()),
        };
        Some(Self {
            dir,
            catalog,
            moto,
            _pg: pg,
        })
    }

    fn portals(&self) -> PathBuf {
        self.dir.path().join("portals")
    }

    /// Starts node `name`; `extra` adds to (or overrides) the shared environment.
    async fn node(&self, name: &str, extra: &[(&'static str, String)]) -> TestServer {
        TestServer::start_with(Opts {
            env: self.env(name, extra),
            config: None,
        })
        .await
    }

    /// The environment of node `name`.
    fn env(&self, name: &str, extra: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("DSBACKUP_CATALOG", self.catalog.clone()),
            ("DSBACKUP_NODE_ID", name.to_string()),
            ("DSBACKUP_INSTANCE_KEY", INSTANCE_KEY.to_string()),
            ("DSBACKUP_SECRETS_KEY", SECRETS_KEY.to_string()),
            ("DSBACKUP_PORTALS_DIR", self.portals().display().to_string()),
            ("DSBACKUP_MODE", "saas".into()),
            ("DSBACKUP_REGISTRATION", "open".into()),
            ("DSBACKUP_JOB_LEASE_SECS", "3".into()),
            ("DSBACKUP_SCHEDULER_PERIOD_SECS", "1".into()),
            ("DSBACKUP_SCHEDULER_RETRY_SECS", "2".into()),
            ("DSBACKUP_MAX_SCHEDULED_JOBS", "2".into()),
            ("DSBACKUP_LOG", "info".into()),
        ];
        for (k, v) in extra {
            env.retain(|(key, _)| key != k);
            env.push((k, v.clone()));
        }
        env
    }

    /// CustomCloud parameters for the shared bucket.
    fn s3(&self) -> Value {
        kv(&[
            ("bucket", "bkt"),
            ("serviceurl", &self.moto.url),
            ("acesskey", "AKIDTEST"),
            ("secretaccesskey", "not-checked-by-moto"),
        ])
    }

    /// The archives in the bucket whose name starts with `alias_`.
    async fn objects_of(&self, alias: &str) -> Vec<String> {
        keys(&self.moto, "")
            .await
            .into_iter()
            .filter(|k| {
                k.rsplit('/')
                    .next()
                    .is_some_and(|n| n.starts_with(&format!("{alias}_")))
            })
            .collect()
    }
}

async fn get(s: &TestServer, cred: &str, path: &str) -> (u16, Value) {
    send(s.as_(cred, Method::GET, path)).await
}

async fn progress(s: &TestServer, cred: &str) -> Value {
    let (st, v) = get(s, cred, "/api/2.0/backup/getbackupprogress").await;
    assert_eq!(st, 200, "{v}");
    v.get("response").cloned().unwrap_or(Value::Null)
}

/// A portal's history as a node lists it, each link cut to its path (links name the host the
/// client asked, which differs per node here and is one load balancer in a deployment).
async fn history(s: &TestServer, cred: &str) -> Vec<Value> {
    let (st, v) = get(s, cred, "/api/2.0/backup/getbackuphistory").await;
    assert_eq!(st, 200, "{v}");
    let mut records = v["response"].as_array().unwrap().clone();
    for r in &mut records {
        let link = r["link"].as_str().unwrap_or_default();
        let path = link.strip_prefix(&s.base).unwrap_or(link).to_string();
        r["link"] = Value::String(path);
    }
    records
}

/// Records without their links' query (each answer signs its link with a fresh expiry).
fn unsigned(mut records: Vec<Value>) -> Vec<Value> {
    for r in &mut records {
        let link = r["link"].as_str().unwrap_or_default();
        r["link"] = Value::String(link.split('?').next().unwrap_or_default().to_string());
    }
    records
}

async fn wait_for<F, Fut>(what: &str, within: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A schedule due now (this hour, every day) to the shared bucket.
fn due_schedule(shared: &Shared) -> Value {
    json!({
        "storageType": 2,
        "storageParams": shared.s3(),
        "backupsStored": 3,
        "cronParams": {"period": 0, "hour": chrono::Utc::now().hour(), "day": null},
    })
}

/// Which node's log says it started a scheduled backup of which portal.
fn scheduled_runs(nodes: &[&TestServer]) -> Vec<(usize, String)> {
    let mut runs = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        for line in n.log().lines() {
            if line.contains("scheduled backup started")
                && let Some(portal) = field(line, "portal")
            {
                runs.push((i, portal));
            }
        }
    }
    runs
}

/// `name=value` of a log line.
fn field(line: &str, name: &str) -> Option<String> {
    let start = line.find(&format!("{name}="))? + name.len() + 1;
    let rest = &line[start..];
    Some(rest.split([' ', ',']).next()?.trim_matches('"').to_string())
}

fn walk(p: &Path) -> usize {
    std::fs::read_dir(p).map_or(0, |rd| {
        rd.flatten()
            .map(|e| {
                if e.path().is_dir() {
                    walk(&e.path())
                } else {
                    1
                }
            })
            .sum()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_share_sessions_run_each_due_schedule_once_and_cancel_across() {
    let Some(shared) = Shared::new().await else {
        return;
    };
    let a = shared
        .node(
            "node-a",
            &[("DSBACKUP_FAULT_DELAY", "backup-write:2500".into())],
        )
        .await;
    let b = shared.node("node-b", &[]).await;
    let c = shared.node("node-c", &[]).await;
    let nodes = [&a, &b, &c];

    // A session made on one node works on the others; so does the owner's API key.
    let token = a.login(OWNER_EMAIL, OWNER_PASSWORD).await;
    for n in nodes {
        assert_eq!(
            get(n, &token, "/api/2.0/backup/getbackuphistory").await.0,
            200
        );
        assert_eq!(
            get(n, OWNER_KEY, "/api/2.0/backup/getbackuphistory")
                .await
                .0,
            200
        );
    }

    // A backup running on A: its progress is read on B, it is canceled from C, and A stops it.
    let (st, v) = send(
        a.owner(Method::POST, "/api/2.0/backup/startbackup")
            .json(&json!({"storageType": 2, "storageParams": shared.s3()})),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let task = v["response"]["taskId"].clone();
    let seen = progress(&b, OWNER_KEY).await;
    assert_eq!(seen["taskId"], task, "B shows A's job: {seen}");
    assert_eq!(seen["isCompleted"], false, "{seen}");
    let (st, v) = send(
        b.owner(Method::POST, "/api/2.0/backup/startbackup")
            .json(&json!({"storageType": 2, "storageParams": shared.s3()})),
    )
    .await;
    assert_eq!(
        (st, v["response"]["taskId"].clone()),
        (200, task.clone()),
        "one backup per portal across nodes: {v}"
    );
    let (st, v) = send(c.owner(Method::POST, "/api/2.0/backup/cancelbackup")).await;
    assert_eq!((st, v["response"].clone()), (200, json!(true)), "{v}");
    for n in nodes {
        assert_eq!(
            progress(n, OWNER_KEY).await,
            Value::Null,
            "dismissed everywhere"
        );
    }
    wait_for(
        "A stops the canceled job",
        Duration::from_secs(3),
        || async { a.log().contains("backup canceled from another node") },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert!(
        history(&b, OWNER_KEY).await.is_empty(),
        "a canceled backup is never recorded"
    );
    assert!(shared.objects_of("default").await.is_empty(), "nor stored");

    // Twenty portals, registered and scheduled through different nodes, all due at once.
    let mut tokens = BTreeMap::new();
    for i in 0..20 {
        let alias = format!("p{i:02}");
        let email = format!("owner@{alias}.org");
        let (st, v) = send(nodes[i % 3].req(Method::POST, "/apisystem/portal/register").json(&json!({
            "portalName": alias, "firstName": "P", "lastName": "O", "email": email, "password": "portal-password"
        })))
        .await;
        assert_eq!(st, 200, "{v}");
        let t = nodes[(i + 1) % 3].login(&email, "portal-password").await;
        let (st, v) = send(
            nodes[(i + 2) % 3]
                .as_(&t, Method::POST, "/api/2.0/backup/createbackupschedule")
                .json(&due_schedule(&shared)),
        )
        .await;
        assert_eq!(st, 200, "{v}");
        tokens.insert(alias, t);
    }
    wait_for(
        "twenty scheduled backups",
        Duration::from_secs(90),
        || async {
            let mut done = 0;
            for t in tokens.values() {
                done += history(&c, t).await.len();
            }
            done >= 20
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    for (alias, t) in &tokens {
        let h = history(&a, t).await;
        assert_eq!(h.len(), 1, "{alias} ran exactly once: {h:?}");
        assert_eq!(h[0]["isScheduled"], true);
        let h = unsigned(h);
        assert_eq!(
            unsigned(history(&b, t).await),
            h,
            "the same history from every node"
        );
        assert_eq!(unsigned(history(&c, t).await), h);
        assert_eq!(shared.objects_of(alias).await.len(), 1, "{alias}");
    }
    // A link signed by one node downloads from any (one instance key).
    let t = tokens.values().next().unwrap();
    let link = history(&a, t).await[0]["link"]
        .as_str()
        .unwrap()
        .to_string();
    let path = link.as_str();
    assert!(path.starts_with("/api/2.0/backup/download/"), "{path}");
    for n in nodes {
        let res = n.client.get(n.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let bytes = res.bytes().await.unwrap();
        assert!(dsbackup_engine::verify(&bytes[..], None).is_ok());
    }
    let runs = scheduled_runs(&nodes);
    let portals: BTreeSet<_> = runs.iter().map(|(_, p)| p.clone()).collect();
    assert_eq!(
        (runs.len(), portals.len()),
        (20, 20),
        "none twice: {runs:?}"
    );
    for i in 0..3 {
        assert!(
            runs.iter().any(|(n, _)| *n == i),
            "node {i} ran some of them: {runs:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restore_on_one_node_gates_its_portal_on_every_node() {
    let Some(shared) = Shared::new().await else {
        return;
    };
    let a = shared
        .node(
            "node-a",
            &[("DSBACKUP_FAULT_DELAY", "restore-extract:5000".into())],
        )
        .await;
    let mut b = shared.node("node-b", &[]).await;
    // Something in the shared documents area to restore.
    let (_, room) = send(
        b.owner(Method::POST, "/api/2.0/files/rooms")
            .json(&json!({"title": "R", "roomType": 5})),
    )
    .await;
    let room = room["response"]["id"].as_i64().unwrap();
    let part = reqwest::multipart::Part::bytes(b"shared bytes".to_vec()).file_name("a.txt");
    let (st, _) = send(
        b.owner(Method::POST, &format!("/api/2.0/files/{room}/upload"))
            .multipart(reqwest::multipart::Form::new().part("file", part)),
    )
    .await;
    assert_eq!(st, 200);
    let files = walk(&shared.portals());
    assert!(files >= 1, "uploads land in the shared portals directory");
    let (st, v) = send(
        b.owner(Method::POST, "/api/2.0/backup/startbackup")
            .json(&json!({"storageType": 2, "storageParams": shared.s3()})),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    wait_for("the backup", Duration::from_secs(30), || async {
        progress(&a, OWNER_KEY).await["isCompleted"] == true
    })
    .await;
    let id = history(&a, OWNER_KEY).await[0]["id"].clone();

    let (st, v) = send(
        a.owner(Method::POST, "/api/2.0/backup/startrestore")
            .json(&json!({"backupId": id, "storageType": 2})),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let (st, body) = get(&b, OWNER_KEY, "/api/2.0/backup/getbackuphistory").await;
    assert_error(st, &body, 403);
    // B restarting meanwhile leaves the portal gated: the restore is A's, not one B left.
    b.restart_with(shared.env("node-b", &[]));
    let (st, body) = get(&b, OWNER_KEY, "/api/2.0/backup/getbackuphistory").await;
    assert_error(st, &body, 403);
    let (st, v) = get(&b, OWNER_KEY, "/api/2.0/backup/getrestoreprogress").await;
    assert_eq!(st, 200, "progress stays readable on every node: {v}");
    assert_eq!(v["response"]["isCompleted"], false, "{v}");
    wait_for("the restore", Duration::from_secs(30), || async {
        get(&b, OWNER_KEY, "/api/2.0/backup/getrestoreprogress")
            .await
            .1["response"]["isCompleted"]
            == true
    })
    .await;
    let (_, v) = get(&b, OWNER_KEY, "/api/2.0/backup/getrestoreprogress").await;
    assert_eq!(v["response"]["status"], 2, "{v}");
    assert_eq!(
        get(&b, OWNER_KEY, "/api/2.0/backup/getbackuphistory")
            .await
            .0,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_node_loses_its_job_and_a_survivor_runs_the_schedule_again() {
    let Some(shared) = Shared::new().await else {
        return;
    };
    let mut a = shared
        .node(
            "node-a",
            &[("DSBACKUP_FAULT_DELAY", "backup-write:60000".into())],
        )
        .await;
    let (st, v) = send(
        a.owner(Method::POST, "/api/2.0/backup/createbackupschedule")
            .json(&due_schedule(&shared)),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    wait_for("A runs the schedule", Duration::from_secs(20), || async {
        a.log().contains("scheduled backup started")
    })
    .await;
    let task = progress(&a, OWNER_KEY).await["taskId"].clone();
    let b = shared.node("node-b", &[]).await;
    assert_eq!(progress(&b, OWNER_KEY).await["taskId"], task);
    a.kill9();
    let killed = Instant::now();

    // Within the lease (3 s) and one expiry pass, B fails the job.
    wait_for("B fails the lost job", Duration::from_secs(8), || async {
        let p = progress(&b, OWNER_KEY).await;
        p["taskId"] == task && p["status"] == 4
    })
    .await;
    let lost_after = killed.elapsed();
    let p = progress(&b, OWNER_KEY).await;
    assert!(
        p["error"].as_str().unwrap().contains("stopped answering"),
        "{p}"
    );
    assert!(lost_after < Duration::from_secs(6), "{lost_after:?}");
    assert!(
        history(&b, OWNER_KEY).await.is_empty(),
        "no record of the lost run"
    );
    assert!(
        shared.objects_of("default").await.is_empty(),
        "no object of the lost run"
    );
    let (_, s) = get(&b, OWNER_KEY, "/api/2.0/backup/getbackupschedule").await;
    assert!(
        s["response"]["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("stopped answering")),
        "the schedule shows the lost run: {s}"
    );

    // The schedule is tried again on the survivor.
    wait_for(
        "B runs the schedule again",
        Duration::from_secs(30),
        || async { history(&b, OWNER_KEY).await.len() == 1 },
    )
    .await;
    assert!(b.log().contains("scheduled backup started"));
    assert_eq!(shared.objects_of("default").await.len(), 1);
}

/// One node whose PostgreSQL catalog is reached through a proxy the test can cut, pausing at
/// the fault points `faults`; `None` without moto or PostgreSQL (outside CI).
async fn behind_a_proxy(faults: &str) -> Option<(Shared, Proxy, TestServer)> {
    let moto = moto().await?;
    let pg = CatalogDb::create()?;
    let proxy = Proxy::to("127.0.0.1:5432").await;
    let port: u16 = proxy.url.rsplit(':').next().unwrap().parse().unwrap();
    let shared = Shared {
        dir: tempfile::tempdir().unwrap(),
        catalog: pg.url_via(port),
        moto,
        _pg: Some(pg),
    };
    let node = shared
        .node("node-a", &[("DSBACKUP_FAULT_DELAY", faults.to_string())])
        .await;
    Some((shared, proxy, node))
}

/// The catalog's PostgreSQL cut off for a while during a backup (a restart, as the node sees
/// it): requests answer 503 at once rather than hang, the backup either completes with its
/// record or fails with neither, and the node works again without a restart, its end
/// written once the catalog is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_catalog_outage_fails_cleanly_and_the_node_recovers() {
    let Some((shared, mut proxy, a)) = behind_a_proxy("backup-write:2500").await else {
        return;
    };
    let s3 = json!({"storageType": 2, "storageParams": shared.s3()});
    let (st, v) = send(
        a.owner(Method::POST, "/api/2.0/backup/startbackup")
            .json(&s3),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    proxy.cut().await;
    let asked = Instant::now();
    let (st, body) = get(&a, OWNER_KEY, "/api/2.0/backup/getbackuphistory").await;
    assert_error(st, &body, 503);
    assert!(
        asked.elapsed() < Duration::from_secs(15),
        "{:?}",
        asked.elapsed()
    );
    assert!(!body.to_string().contains("postgres@"), "{body}");
    // A cancel the catalog cannot record is refused, not half done.
    let (st, body) = send(a.owner(Method::POST, "/api/2.0/backup/cancelbackup")).await;
    assert_error(st, &body, 503);
    // The backup ends while the catalog is away, so its end cannot be written then: the
    // node writes it once the catalog is back, or the catalog would show the job running
    // (and refuse every start in its slot) until its lease ran out.
    wait_for(
        "the job's end fails to be written",
        Duration::from_secs(20),
        || async { a.log().contains("cannot record the job's state") },
    )
    .await;
    proxy.restore().await;

    wait_for("the backup ends", Duration::from_secs(30), || async {
        let (st, v) = get(&a, OWNER_KEY, "/api/2.0/backup/getbackupprogress").await;
        st == 200 && v["response"]["isCompleted"] == true
    })
    .await;
    let records = history(&a, OWNER_KEY).await;
    let objects = shared.objects_of("default").await;
    assert_eq!(
        records.len(),
        objects.len(),
        "a record exactly when an object: {records:?} {objects:?}"
    );
    // The node works again, without a restart.
    let (st, v) = send(
        a.owner(Method::POST, "/api/2.0/backup/startbackup")
            .json(&s3),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    wait_for("a new backup", Duration::from_secs(30), || async {
        history(&a, OWNER_KEY).await.len() == records.len() + 1
    })
    .await;
    assert_eq!(shared.objects_of("default").await.len(), records.len() + 1);
}

/// A start whose claim the catalog never took (it went away at that moment) fails with 503.
/// The job it would have been has no row, so once the catalog is back its end counts as
/// recorded (`NotFound`) and is not written again every second; the next start works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_the_catalog_never_recorded_is_let_go() {
    let Some((shared, mut proxy, a)) = behind_a_proxy("job-claim:5000").await else {
        return;
    };
    let s3 = json!({"storageType": 2, "storageParams": shared.s3()});
    let ((st, body), ()) = tokio::join!(
        send(
            a.owner(Method::POST, "/api/2.0/backup/startbackup")
                .json(&s3)
        ),
        async {
            wait_for("the claim pauses", Duration::from_secs(10), || async {
                a.log().contains("fault point: pausing")
            })
            .await;
            proxy.cut().await;
        }
    );
    assert_error(st, &body, 503);
    wait_for(
        "the failed job's end fails to be written",
        Duration::from_secs(10),
        || async { a.log().contains("cannot record the job's state") },
    )
    .await;
    proxy.restore().await;
    wait_for("the catalog answers", Duration::from_secs(30), || async {
        get(&a, OWNER_KEY, "/api/2.0/backup/getbackuphistory")
            .await
            .0
            == 200
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let attempts = || a.log().matches("cannot record the job's state").count();
    let before = attempts();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(attempts(), before, "{}", a.log());
    assert!(history(&a, OWNER_KEY).await.is_empty());
    let (st, v) = send(
        a.owner(Method::POST, "/api/2.0/backup/startbackup")
            .json(&s3),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    wait_for("a backup", Duration::from_secs(30), || async {
        history(&a, OWNER_KEY).await.len() == 1
    })
    .await;
    assert_eq!(shared.objects_of("default").await.len(), 1);
}
