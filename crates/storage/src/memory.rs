//! Storage in memory, for tests and dry runs.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex};

use dsbackup_core::storage::check_name;
use dsbackup_core::{CoreError, CoreResult, ObjectWriter, Storage};

type Objects = Arc<Mutex<BTreeMap<String, Arc<Vec<u8>>>>>;

/// Objects held in a map.
#[derive(Debug, Default, Clone)]
pub struct MemoryStorage {
    objects: Objects,
}

impl MemoryStorage {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> CoreResult<std::sync::MutexGuard<'_, BTreeMap<String, Arc<Vec<u8>>>>> {
        self.objects
            .lock()
            .map_err(|_| CoreError::Internal("memory storage poisoned".into()))
    }
}

struct MemoryWriter {
    objects: Objects,
    name: String,
    buf: Vec<u8>,
}

impl Write for MemoryWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl ObjectWriter for MemoryWriter {
    fn commit(self: Box<Self>) -> CoreResult<u64> {
        let size = self.buf.len() as u64;
        let mut map = self
            .objects
            .lock()
            .map_err(|_| CoreError::Internal("memory storage poisoned".into()))?;
        map.insert(self.name, Arc::new(self.buf));
        Ok(size)
    }
}

struct SharedReader {
    data: Arc<Vec<u8>>,
    at: usize,
}

impl Read for SharedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let rest = &self.data[self.at.min(self.data.len())..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.at += n;
        Ok(n)
    }
}

impl Storage for MemoryStorage {
    fn create(&self, name: &str) -> CoreResult<Box<dyn ObjectWriter>> {
        check_name(name)?;
        Ok(Box::new(MemoryWriter {
            objects: self.objects.clone(),
            name: name.to_string(),
            buf: Vec::new(),
        }))
    }

    fn open(&self, name: &str) -> CoreResult<Box<dyn Read + Send>> {
        check_name(name)?;
        let data = self
            .lock()?
            .get(name)
            .cloned()
            .ok_or_else(|| CoreError::NotFound(format!("{name} not found")))?;
        Ok(Box::new(SharedReader { data, at: 0 }))
    }

    fn size(&self, name: &str) -> CoreResult<Option<u64>> {
        check_name(name)?;
        Ok(self.lock()?.get(name).map(|d| d.len() as u64))
    }

    fn delete(&self, name: &str) -> CoreResult<bool> {
        check_name(name)?;
        Ok(self.lock()?.remove(name).is_some())
    }

    fn list(&self) -> CoreResult<Vec<String>> {
        Ok(self.lock()?.keys().cloned().collect())
    }
}
