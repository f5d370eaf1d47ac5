//! On-disk cache of raw whois answers, one file per (server, query):
//! `DIR/<server>/<query>.txt`. Entries older than the maximum age are
//! ignored. Writes go to a temporary file first and are renamed into place,
//! so a crash never leaves half an answer behind.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A cache directory.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
    max_age: Duration,
}

/// Cache I/O failures.
#[derive(Debug, thiserror::Error)]
#[error("whois cache {path}: {source}")]
pub struct CacheError {
    /// The file or directory.
    pub path: PathBuf,
    /// The I/O error.
    #[source]
    pub source: std::io::Error,
}

/// Maps a server or query to a safe file name: ASCII letters, digits, `.`,
/// `-` and `_` are kept, anything else becomes `%XX`; `.` alone or leading
/// dots are escaped so no name can climb out of the directory.
fn file_name(text: &str) -> String {
    let mut out = String::new();
    for (i, b) in text.bytes().enumerate() {
        let keep = b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || (b == b'.' && i > 0);
        if keep {
            out.push(char::from(b.to_ascii_lowercase()));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() { "%".to_owned() } else { out }
}

/// Inverse of [`file_name`].
fn unescape(name: &str) -> String {
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One cached answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Server it came from (`host:port`).
    pub server: String,
    /// Query that was sent.
    pub query: String,
    /// The file.
    pub path: PathBuf,
    /// The answer.
    pub text: String,
}

impl Cache {
    /// A cache in `dir` whose entries expire after `max_age`.
    pub fn new(dir: impl Into<PathBuf>, max_age: Duration) -> Self {
        Self {
            dir: dir.into(),
            max_age,
        }
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, server: &str, query: &str) -> PathBuf {
        self.dir
            .join(file_name(server))
            .join(format!("{}.txt", file_name(query)))
    }

    /// A fresh cached answer, if any (unreadable entries count as misses).
    pub fn get(&self, server: &str, query: &str) -> Option<String> {
        let path = self.path(server, query);
        let meta = std::fs::metadata(&path).ok()?;
        let age = meta
            .modified()
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok());
        if age.is_none_or(|age| age > self.max_age) {
            return None;
        }
        std::fs::read_to_string(path).ok()
    }

    /// Stores an answer.
    pub fn put(&self, server: &str, query: &str, text: &str) -> Result<(), CacheError> {
        let path = self.path(server, query);
        let err = |path: &Path| {
            let path = path.to_owned();
            move |source| CacheError { path, source }
        };
        let parent = path.parent().unwrap_or(&self.dir);
        std::fs::create_dir_all(parent).map_err(err(parent))?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, text).map_err(err(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(err(&path))
    }

    /// Every cached answer (any age), sorted by path.
    pub fn entries(&self) -> Result<Vec<Entry>, CacheError> {
        let mut out = Vec::new();
        let read_dir = |dir: &Path| {
            std::fs::read_dir(dir).map_err(|source| CacheError {
                path: dir.to_owned(),
                source,
            })
        };
        if !self.dir.exists() {
            return Ok(out);
        }
        for server in read_dir(&self.dir)?.flatten() {
            if !server.path().is_dir() {
                continue;
            }
            for entry in read_dir(&server.path())?.flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "txt")
                    && let Ok(text) = std::fs::read_to_string(&path)
                {
                    let server = unescape(&server.file_name().to_string_lossy());
                    let stem = path
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    out.push(Entry {
                        server,
                        query: unescape(&stem),
                        path,
                        text,
                    });
                }
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_escape_the_directory() {
        assert_eq!(file_name("whois.nic.tech"), "whois.nic.tech");
        assert_eq!(file_name("127.0.0.1:4343"), "127.0.0.1%3A4343");
        assert_eq!(file_name("../etc/passwd"), "%2E.%2Fetc%2Fpasswd");
        assert_eq!(file_name(""), "%");
        for s in ["127.0.0.1:4343", "../etc/passwd", "whois.nic.tech", "a%b"] {
            assert_eq!(unescape(&file_name(s)), s.to_ascii_lowercase());
        }
    }

    #[test]
    fn put_then_get_and_expiry() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = Cache::new(dir.path(), Duration::from_secs(3600));
        assert_eq!(cache.get("s", "q.com"), None);
        cache
            .put("s", "q.com", "Domain Name: Q.COM\n")
            .expect("put");
        assert_eq!(
            cache.get("s", "q.com").as_deref(),
            Some("Domain Name: Q.COM\n")
        );
        let entries = cache.entries().expect("entries");
        assert_eq!(
            (entries[0].server.as_str(), entries[0].query.as_str()),
            ("s", "q.com")
        );
        let expired = Cache::new(dir.path(), Duration::ZERO);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(expired.get("s", "q.com"), None);
    }
}
