//! Append-only output that writes every byte exactly once, also across failed writes.
//!
//! A file sink serialises a batch into [`AppendFile::buffer`] and calls
//! [`AppendFile::flush`]. When the OS refuses a write (disk full, I/O error), the bytes not
//! yet written stay pending, and the next `flush` continues where the last one stopped:
//! the hub retries the same batch, and the sink, seeing [`AppendFile::has_pending`], does
//! not serialise it a second time. So a transient failure neither loses nor duplicates a
//! line. (`BufWriter` keeps unwritten bytes too, but a retry through it would serialise
//! the batch again.)

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use crate::SinkError;

/// An append-only file (or, in tests, any writer) with the bytes not yet written.
pub(crate) struct AppendFile<W: Write = File> {
    path: PathBuf,
    out: W,
    pending: Vec<u8>,
    written: usize,
}

impl AppendFile<File> {
    /// Opens `path` for appending, creating it if missing.
    pub(crate) fn open(path: PathBuf) -> Result<Self, SinkError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|err| SinkError::io(&path, err))?;
        Ok(AppendFile::with_writer(path, file))
    }
}

impl<W: Write> AppendFile<W> {
    pub(crate) fn with_writer(path: PathBuf, out: W) -> Self {
        AppendFile {
            path,
            out,
            pending: Vec::with_capacity(1 << 16),
            written: 0,
        }
    }

    #[cfg(test)]
    pub(crate) fn inner(&self) -> &W {
        &self.out
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Whether bytes of an earlier batch are still waiting to be written.
    pub(crate) fn has_pending(&self) -> bool {
        self.written < self.pending.len()
    }

    /// Where the next batch is serialised (after what is pending, if anything).
    pub(crate) fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.pending
    }

    /// Writes everything pending; on error, keeps what was not written for the next call.
    pub(crate) fn flush(&mut self) -> Result<(), SinkError> {
        while self.written < self.pending.len() {
            match self.out.write(&self.pending[self.written..]) {
                Ok(0) => {
                    let err = std::io::Error::new(ErrorKind::WriteZero, "wrote 0 bytes");
                    return Err(SinkError::io(&self.path, err));
                }
                Ok(n) => self.written += n,
                Err(err) if err.kind() == ErrorKind::Interrupted => {}
                Err(err) => return Err(SinkError::io(&self.path, err)),
            }
        }
        self.pending.clear();
        self.written = 0;
        self.out
            .flush()
            .map_err(|err| SinkError::io(&self.path, err))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A writer that accepts `partial` bytes of the first write, then fails `failures`
    /// times, then works: a disk that fills up and is cleaned.
    pub(crate) struct FlakyWriter {
        pub(crate) data: Vec<u8>,
        pub(crate) partial: usize,
        pub(crate) failures: usize,
    }

    impl Write for FlakyWriter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.partial > 0 {
                let n = self.partial.min(buf.len());
                self.partial = 0;
                self.data.extend_from_slice(&buf[..n]);
                return Ok(n);
            }
            if self.failures > 0 {
                self.failures -= 1;
                return Err(std::io::Error::new(ErrorKind::StorageFull, "disk full"));
            }
            self.data.extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn failed_writes_resume_without_loss_or_duplication() {
        let writer = FlakyWriter {
            data: Vec::new(),
            partial: 5,
            failures: 2,
        };
        let mut file = AppendFile::with_writer(PathBuf::from("t"), writer);
        file.buffer().extend_from_slice(b"line one\nline two\n");
        assert!(file.flush().is_err());
        assert!(file.has_pending());
        assert!(file.flush().is_err());
        assert!(file.flush().is_ok());
        assert!(!file.has_pending());
        file.buffer().extend_from_slice(b"three\n");
        assert!(file.flush().is_ok());
        assert_eq!(file.inner().data, b"line one\nline two\nthree\n");
    }
}
