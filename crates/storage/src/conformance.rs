//! The storage conformance suites: one set of checks every backend must pass, called with a
//! fresh, empty backend. Checks panic with a message naming the broken rule.
//!
//! - [`run_backend`] (and [`large_put`]): the async `ReadBackend` + `WriteBackend` interface and
//!   the blocking bridges over it.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use dsbackup_core::CoreError;
use dsbackup_core::storage::{ByteStream, WriteBackend};
use futures_util::{StreamExt, stream};

use crate::{BlockingReader, BlockingWriter};

/// A body of the given chunks.
pub fn body_of(chunks: Vec<Bytes>) -> ByteStream {
    Box::pin(stream::iter(chunks.into_iter().map(Ok)))
}

/// `len` bytes of a pattern that differs at every offset of a period that is not a power of two.
pub fn pattern(from: u64, len: usize) -> Vec<u8> {
    (from..from + len as u64).map(|i| (i % 251) as u8).collect()
}

async fn read_all(b: &dyn WriteBackend, key: &str, range: Option<Range<u64>>) -> Vec<u8> {
    let mut s = b.get(key, range).await.unwrap();
    let mut out = Vec::new();
    while let Some(chunk) = s.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

async fn all_keys(b: &dyn WriteBackend, prefix: &str, limit: usize) -> Vec<String> {
    let (mut keys, mut after) = (Vec::new(), None::<String>);
    loop {
        let page = b.list(prefix, after.as_deref(), limit).await.unwrap();
        assert!(page.objects.len() <= limit, "a page holds at most `limit`");
        keys.extend(page.objects.into_iter().map(|o| o.key));
        match page.next {
            Some(n) => after = Some(n),
            None => return keys,
        }
    }
}

/// Runs every check of the async interface against `b`, which must start empty, and leaves it
/// empty. Call it on a multi-thread runtime (the bridges run on blocking threads).
pub async fn run_backend(b: Arc<dyn WriteBackend>) {
    assert!(!b.describe().is_empty());
    assert_eq!(
        all_keys(&*b, "", 100).await,
        Vec::<String>::new(),
        "starts empty"
    );
    round_trip_and_ranges(&*b).await;
    overwrite_and_delete(&*b).await;
    listing(&*b).await;
    invalid_keys(&*b).await;
    failed_puts_leave_nothing(&*b).await;
    bridges(b.clone()).await;
    assert_eq!(
        all_keys(&*b, "", 100).await,
        Vec::<String>::new(),
        "ends empty"
    );
}

async fn round_trip_and_ranges(b: &dyn WriteBackend) {
    let data = pattern(0, 200_000);
    let chunks = data.chunks(70_000).map(Bytes::copy_from_slice).collect();
    let meta = b.put("r/a.bin", body_of(chunks), false).await.unwrap();
    assert_eq!((meta.key.as_str(), meta.size), ("r/a.bin", 200_000));
    let stat = b.stat("r/a.bin").await.unwrap().expect("stat after put");
    assert_eq!((stat.key.as_str(), stat.size), ("r/a.bin", 200_000));
    assert!(
        read_all(b, "r/a.bin", None).await == data,
        "reads back byte for byte"
    );
    assert!(b.presign("r/a.bin", chrono::Utc::now()).await.is_ok());

    let n = data.len() as u64;
    for r in [0..10, 100..150_000, n - 10..n, 5..5, n..n, 0..n] {
        let want = &data[r.start as usize..r.end as usize];
        assert!(
            read_all(b, "r/a.bin", Some(r.clone())).await == want,
            "range {r:?}"
        );
    }
    for r in [n - 1..n + 1, n + 1..n + 2, Range { start: 10, end: 5 }] {
        assert!(
            matches!(
                b.get("r/a.bin", Some(r.clone())).await,
                Err(CoreError::Invalid(_))
            ),
            "range {r:?} refused"
        );
    }
    assert!(matches!(
        b.get("r/none", None).await,
        Err(CoreError::NotFound(_))
    ));
    assert_eq!(b.stat("r/none").await.unwrap(), None);
    assert_eq!(
        b.stat("r").await.unwrap(),
        None,
        "a prefix is not an object"
    );

    let empty = b.put("r/empty", body_of(vec![]), false).await.unwrap();
    assert_eq!(empty.size, 0);
    assert!(read_all(b, "r/empty", None).await.is_empty());
    assert!(read_all(b, "r/empty", Some(0..0)).await.is_empty());
    assert!(b.delete("r/empty").await.unwrap());
}

async fn overwrite_and_delete(b: &dyn WriteBackend) {
    let put = |bytes: &'static [u8], overwrite| {
        b.put(
            "r/a.bin",
            body_of(vec![Bytes::from_static(bytes)]),
            overwrite,
        )
    };
    assert!(matches!(
        put(b"v2", false).await,
        Err(CoreError::Conflict(_))
    ));
    assert_eq!(
        b.stat("r/a.bin").await.unwrap().unwrap().size,
        200_000,
        "kept"
    );
    assert_eq!(put(b"v2", true).await.unwrap().size, 2);
    assert_eq!(read_all(b, "r/a.bin", None).await, b"v2");
    assert!(b.delete("r/a.bin").await.unwrap());
    assert!(!b.delete("r/a.bin").await.unwrap(), "deleting twice");
    assert_eq!(b.stat("r/a.bin").await.unwrap(), None);
    assert!(matches!(
        b.get("r/a.bin", None).await,
        Err(CoreError::NotFound(_))
    ));
    assert_eq!(
        put(b"v3", false).await.unwrap().size,
        2,
        "a deleted key is free"
    );
    assert!(b.delete("r/a.bin").await.unwrap());
}

async fn listing(b: &dyn WriteBackend) {
    // `-` sorts before `/`: a walk that lists a directory's contents in one go gets this wrong.
    let keys = ["l/c", "l/b/d", "l-x", "l/ba", "l/b-x", "l/a", "l/b/c", "m"];
    for k in keys {
        b.put(k, body_of(vec![Bytes::from(k.as_bytes().to_vec())]), false)
            .await
            .unwrap();
    }
    let under_l = ["l/a", "l/b-x", "l/b/c", "l/b/d", "l/ba", "l/c"];
    for limit in [1, 2, 4, 100] {
        assert_eq!(all_keys(b, "l/", limit).await, under_l, "limit {limit}");
    }
    assert_eq!(
        all_keys(b, "l", 3).await,
        ["l-x", "l/a", "l/b-x", "l/b/c", "l/b/d", "l/ba", "l/c"]
    );
    assert_eq!(
        all_keys(b, "l/b", 2).await,
        ["l/b-x", "l/b/c", "l/b/d", "l/ba"]
    );
    assert_eq!(all_keys(b, "l/b/", 1).await, ["l/b/c", "l/b/d"]);
    assert_eq!(all_keys(b, "", 2).await.len(), keys.len());
    assert!(all_keys(b, "none/", 5).await.is_empty());
    assert!(
        all_keys(b, "l/a/", 5).await.is_empty(),
        "an object is not a directory"
    );

    let page = b.list("l/", Some("l/b-x"), 2).await.unwrap();
    let got: Vec<_> = page.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(got, ["l/b/c", "l/b/d"]);
    assert_eq!(page.objects[0].size, 5, "listing carries sizes");
    assert!(
        b.list("l/", Some("l/c"), 5)
            .await
            .unwrap()
            .objects
            .is_empty()
    );
    assert_eq!(b.list("l/", Some("l/c"), 5).await.unwrap().next, None);
    assert!(matches!(
        b.list("/l", None, 5).await,
        Err(CoreError::Invalid(_))
    ));
    assert!(matches!(
        b.list("l/", None, 0).await,
        Err(CoreError::Invalid(_))
    ));

    for k in keys {
        assert!(b.delete(k).await.unwrap(), "{k}");
    }
    assert!(all_keys(b, "", 5).await.is_empty());
}

async fn invalid_keys(b: &dyn WriteBackend) {
    let bad = [
        "",
        "/a",
        "a/",
        "a//b",
        ".",
        "..",
        "a/../b",
        "./a",
        ".h",
        "a/.partial-x",
        "a\\b",
        "a\0b",
    ];
    for k in bad {
        let invalid = |r: Result<(), CoreError>| matches!(r, Err(CoreError::Invalid(_)));
        assert!(invalid(b.stat(k).await.map(drop)), "stat {k:?}");
        assert!(invalid(b.get(k, None).await.map(drop)), "get {k:?}");
        assert!(invalid(b.delete(k).await.map(drop)), "delete {k:?}");
        assert!(
            invalid(b.presign(k, chrono::Utc::now()).await.map(drop)),
            "presign {k:?}"
        );
        let put = b
            .put(k, body_of(vec![Bytes::from_static(b"x")]), true)
            .await;
        assert!(invalid(put.map(drop)), "put {k:?}");
    }
}

async fn failed_puts_leave_nothing(b: &dyn WriteBackend) {
    // A body that fails after some data.
    let failing: ByteStream = Box::pin(stream::iter([
        Ok(Bytes::from(pattern(0, 100_000))),
        Err(std::io::Error::other("source broke")),
    ]));
    assert!(
        b.put("f/x", failing, false).await.is_err(),
        "a failing body fails the put"
    );
    assert_eq!(b.stat("f/x").await.unwrap(), None, "nothing visible");
    assert!(all_keys(b, "", 10).await.is_empty(), "nothing listed");

    // A put dropped while its body is still streaming.
    let (started, mut wait) = tokio::sync::oneshot::channel::<()>();
    let stalled: ByteStream = Box::pin(stream::iter([Ok(Bytes::from(pattern(0, 100_000)))]).chain(
        stream::once(async move {
            let _ = started.send(());
            std::future::pending::<std::io::Result<Bytes>>().await
        }),
    ));
    tokio::select! {
        r = b.put("f/y", stalled, false) => panic!("a stalled put finished: {r:?}"),
        _ = &mut wait => {}
    }
    assert_eq!(
        b.stat("f/y").await.unwrap(),
        None,
        "a dropped put leaves nothing"
    );
    assert!(all_keys(b, "", 10).await.is_empty(), "nothing listed");
}

async fn bridges(b: Arc<dyn WriteBackend>) {
    let rt = tokio::runtime::Handle::current();
    let size = 3 * 1024 * 1024 + 17;
    let data = Arc::new(pattern(0, size));
    let (b2, d2) = (b.clone(), data.clone());
    tokio::task::spawn_blocking(move || {
        // Dropped before commit: nothing stays.
        let mut w = BlockingWriter::new(&rt, b2.clone(), "w/dropped", false).unwrap();
        w.write_all(&d2[..1_000_000]).unwrap();
        drop(w);
        assert_eq!(rt.block_on(b2.stat("w/dropped")).unwrap(), None);

        // Written in odd-sized pieces, read back whole and in part.
        let mut w = BlockingWriter::new(&rt, b2.clone(), "w/a.tar.zst", false).unwrap();
        for piece in d2.chunks(100_003) {
            w.write_all(piece).unwrap();
        }
        assert_eq!(w.commit().unwrap().size, size as u64);
        let read = |range| {
            let mut back = Vec::new();
            let r = BlockingReader::new(&rt, b2.clone(), "w/a.tar.zst", range);
            r.unwrap().read_to_end(&mut back).unwrap();
            back
        };
        assert!(read(None) == *d2, "bridges round trip");
        assert!(read(Some(1_000_000..2_000_001)) == d2[1_000_000..2_000_001]);

        // The put's refusal reaches the writer.
        let mut w = BlockingWriter::new(&rt, b2.clone(), "w/a.tar.zst", false).unwrap();
        let _ = w.write_all(&d2[..300_000]); // may already fail
        assert!(matches!(w.commit(), Err(CoreError::Conflict(_))));
        let missing = BlockingReader::new(&rt, b2.clone(), "w/none", None);
        assert!(matches!(missing, Err(CoreError::NotFound(_))));
        assert!(BlockingWriter::new(&rt, b2.clone(), "../x", false).is_err());
    })
    .await
    .unwrap();
    assert_eq!(all_keys(&*b, "w/", 10).await, ["w/a.tar.zst"]);
    assert!(b.delete("w/a.tar.zst").await.unwrap());
}

/// Puts `size` bytes generated on the fly into `key`, checks them back chunk by chunk and
/// deletes them: neither side may need the whole object in memory.
pub async fn large_put(b: &dyn WriteBackend, key: &str, size: u64) {
    const PIECE: u64 = 1 << 20;
    let body = stream::unfold(0u64, move |at| async move {
        (at < size).then(|| {
            let len = PIECE.min(size - at);
            (Ok(Bytes::from(pattern(at, len as usize))), at + len)
        })
    });
    assert_eq!(b.put(key, Box::pin(body), false).await.unwrap().size, size);
    assert_eq!(b.stat(key).await.unwrap().unwrap().size, size);
    let mut s = b.get(key, None).await.unwrap();
    let mut at = 0u64;
    while let Some(chunk) = s.next().await {
        let chunk = chunk.unwrap();
        assert!(chunk == pattern(at, chunk.len()), "bytes at {at}");
        at += chunk.len() as u64;
    }
    assert_eq!(at, size);
    assert!(b.delete(key).await.unwrap());
}
