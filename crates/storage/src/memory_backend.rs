//! [`MemoryBackend`]: objects in a map, for tests and dry runs. A put collects its body and
//! inserts it in one step, so the object appears whole or not at all.

use std::collections::BTreeMap;
use std::ops::{Bound, Range};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use dsbackup_core::storage::{
    ByteStream, ListPage, ObjectMeta, ReadBackend, WriteBackend, check_key, check_prefix,
};
use dsbackup_core::{CoreError, CoreResult};
use futures_util::StreamExt;

use crate::common::{check_limit, check_range, exists, missing, page};

#[derive(Debug)]
struct Object {
    data: Bytes,
    modified: DateTime<Utc>,
}

impl Object {
    fn meta(&self, key: &str) -> ObjectMeta {
        ObjectMeta {
            key: key.to_string(),
            size: self.data.len() as u64,
            modified: Some(self.modified),
        }
    }
}

/// Objects held in memory; clones share them.
#[derive(Debug, Default, Clone)]
pub struct MemoryBackend {
    objects: Arc<Mutex<BTreeMap<String, Object>>>,
}

impl MemoryBackend {
    /// An empty backend.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> CoreResult<MutexGuard<'_, BTreeMap<String, Object>>> {
        self.objects
            .lock()
            .map_err(|_| CoreError::Internal("memory backend poisoned".into()))
    }
}

#[async_trait]
impl ReadBackend for MemoryBackend {
    fn describe(&self) -> String {
        "memory".into()
    }

    async fn stat(&self, key: &str) -> CoreResult<Option<ObjectMeta>> {
        check_key(key)?;
        Ok(self.lock()?.get(key).map(|o| o.meta(key)))
    }

    async fn list(&self, prefix: &str, after: Option<&str>, limit: usize) -> CoreResult<ListPage> {
        check_prefix(prefix)?;
        check_limit(limit)?;
        let lower = match after {
            Some(a) if a >= prefix => Bound::Excluded(a),
            _ => Bound::Included(prefix),
        };
        let map = self.lock()?;
        let objects: Vec<ObjectMeta> = map
            .range::<str, _>((lower, Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .take(limit + 1)
            .map(|(k, o)| o.meta(k))
            .collect();
        Ok(page(objects, limit))
    }

    async fn get(&self, key: &str, range: Option<Range<u64>>) -> CoreResult<ByteStream> {
        check_key(key)?;
        let data = self
            .lock()?
            .get(key)
            .map(|o| o.data.clone())
            .ok_or_else(|| missing(key))?;
        let range = check_range(key, range, data.len() as u64)?;
        // Bounded by the object's size, which is in memory already.
        let part = data.slice(range.start as usize..range.end as usize);
        Ok(Box::pin(futures_util::stream::iter(
            (!part.is_empty()).then_some(Ok(part)),
        )))
    }

    async fn presign(&self, key: &str, _expires: DateTime<Utc>) -> CoreResult<Option<String>> {
        check_key(key)?;
        Ok(None)
    }
}

#[async_trait]
impl WriteBackend for MemoryBackend {
    async fn put(
        &self,
        key: &str,
        mut body: ByteStream,
        overwrite: bool,
    ) -> CoreResult<ObjectMeta> {
        check_key(key)?;
        if !overwrite && self.lock()?.contains_key(key) {
            return Err(exists(key));
        }
        let mut buf = BytesMut::new();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| CoreError::internal(&e))?;
            buf.extend_from_slice(&chunk);
        }
        let object = Object {
            data: buf.freeze(),
            modified: Utc::now(),
        };
        let meta = object.meta(key);
        let mut map = self.lock()?;
        if !overwrite && map.contains_key(key) {
            return Err(exists(key));
        }
        map.insert(key.to_string(), object);
        Ok(meta)
    }

    async fn delete(&self, key: &str) -> CoreResult<bool> {
        check_key(key)?;
        Ok(self.lock()?.remove(key).is_some())
    }
}
