//! One fetch, counted once: a download Cowrie recorded (`cowrie.session.file_download`
//! or `.failed`) is the fetch a command line of the same session asked for (`wget`,
//! `curl`, `tftp`, `ftpget` in `cowrie.command.input`), so it is a payload-host
//! attempt of its own only when no such line named the same host, port and file.
//!
//! Recorded downloads of a session are held with their session's commanded fetches
//! until the session is folded as complete, or else until every worker's rows are
//! merged ([`SessionFetches::settle`]): a session whose rows two workers read (JSON
//! blocks are shared out) is then matched as a whole, so the counts do not depend on
//! the number of threads, and what is held stays bounded like the open sessions.
//! Each commanded fetch matches at most one recorded download (a line that fetched
//! twice logs two records). Memory is bounded per session: past [`MAX_HELD`]
//! commanded fetches no more are kept (later records count as fetches of their own),
//! past [`MAX_HELD`] recorded downloads the rest are counted at once.

use std::hash::BuildHasher;
use std::net::IpAddr;

use crate::command::Download;
use crate::time::Micros;

/// Fetches of each kind kept per session and worker.
pub const MAX_HELD: usize = 64;

/// What identifies one fetch in a command line and in the honeypot's record of it:
/// host (ASCII case folded), port, and the last part of the path (a `tftp -r` file
/// name and a `tftp://host/dir/file` URL name the same file). Methods differ
/// (`wget` against `http`) and are not part of it.
pub fn fetch_key(d: &Download) -> u64 {
    fetch_key_of(&d.host, d.port, &d.file)
}

/// [`fetch_key`] of a download's parts (a downloads-table row's host, port and file).
pub fn fetch_key_of(host: &str, port: Option<u16>, file: &str) -> u64 {
    let file = file.rsplit('/').next().unwrap_or_default();
    let host = host.to_ascii_lowercase();
    foldhash::fast::FixedState::with_seed(0x0066_6574_6368).hash_one((host, port, file))
}

/// A recorded download waiting for [`SessionFetches::settle`].
#[derive(Debug, Clone)]
pub struct Recorded {
    /// When the honeypot recorded it.
    pub ts: Option<Micros>,
    /// The source that fetched.
    pub src: Option<IpAddr>,
    /// What was fetched.
    pub download: Download,
}

/// One session's commanded fetches and recorded downloads.
#[derive(Debug, Clone, Default)]
pub struct SessionFetches {
    commanded: Vec<u64>,
    recorded: Vec<Recorded>,
}

impl SessionFetches {
    /// Notes a fetch a command line of the session asked for.
    pub fn command(&mut self, d: &Download) {
        if self.commanded.len() < MAX_HELD {
            self.commanded.push(fetch_key(d));
        }
    }

    /// Holds a recorded download; gives it back when the session holds
    /// [`MAX_HELD`] already (the caller counts it at once).
    pub fn hold(&mut self, r: Recorded) -> Option<Recorded> {
        if self.recorded.len() >= MAX_HELD {
            return Some(r);
        }
        self.recorded.push(r);
        None
    }

    /// Adds another worker's part of the same session.
    pub fn merge(&mut self, other: SessionFetches) {
        self.commanded.extend(other.commanded);
        self.recorded.extend(other.recorded);
    }

    /// The recorded downloads no commanded fetch accounts for: the fetches to
    /// count. The same whatever order the parts were merged in.
    pub fn settle(self) -> impl Iterator<Item = Recorded> {
        let mut commanded = self.commanded;
        self.recorded.into_iter().filter(move |r| {
            let key = fetch_key(&r.download);
            match commanded.iter().position(|&c| c == key) {
                Some(i) => {
                    commanded.swap_remove(i);
                    false
                }
                None => true,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dl(method: &'static str, host: &str, port: Option<u16>, file: &str) -> Download {
        Download {
            method,
            host: host.into(),
            port,
            file: file.into(),
        }
    }

    fn recorded(d: Download) -> Recorded {
        Recorded {
            ts: None,
            src: None,
            download: d,
        }
    }

    fn left(s: SessionFetches) -> Vec<String> {
        s.settle().map(|r| r.download.file).collect()
    }

    #[test]
    fn a_record_of_a_commanded_fetch_is_not_counted_again() {
        let mut s = SessionFetches::default();
        s.command(&dl("wget", "203.0.113.66", None, "bins.sh"));
        assert!(
            s.hold(recorded(dl("http", "203.0.113.66", None, "bins.sh")))
                .is_none()
        );
        assert!(left(s).is_empty());
    }

    #[test]
    fn host_case_and_directories_do_not_matter_ports_and_files_do() {
        let mut s = SessionFetches::default();
        s.command(&dl("tftp", "Evil.Example", None, "mirai.arm7"));
        s.command(&dl("wget", "192.0.2.7", Some(8080), "x"));
        s.command(&dl("wget", "192.0.2.8", None, "y"));
        let _ = s.hold(recorded(dl(
            "tftp",
            "evil.example",
            None,
            "bins/mirai.arm7",
        )));
        let _ = s.hold(recorded(dl("http", "192.0.2.7", None, "x")));
        let _ = s.hold(recorded(dl("http", "192.0.2.8", None, "z")));
        assert_eq!(left(s), ["x", "z"]);
    }

    #[test]
    fn each_commanded_fetch_accounts_for_one_record() {
        let mut s = SessionFetches::default();
        s.command(&dl("wget", "192.0.2.7", None, "a"));
        for _ in 0..3 {
            let _ = s.hold(recorded(dl("http", "192.0.2.7", None, "a")));
        }
        assert_eq!(left(s).len(), 2);
    }

    #[test]
    fn parts_merged_in_either_order_settle_alike() {
        let mut command = SessionFetches::default();
        command.command(&dl("wget", "192.0.2.7", None, "a"));
        let mut record = SessionFetches::default();
        let _ = record.hold(recorded(dl("http", "192.0.2.7", None, "a")));
        let _ = record.hold(recorded(dl("http", "192.0.2.9", None, "b")));
        let mut one = command.clone();
        one.merge(record.clone());
        let mut other = record;
        other.merge(command);
        assert_eq!(left(one), ["b"]);
        assert_eq!(left(other), ["b"]);
    }

    #[test]
    fn held_lists_are_bounded() {
        let mut s = SessionFetches::default();
        for i in 0..MAX_HELD + 10 {
            s.command(&dl("wget", "192.0.2.7", None, &i.to_string()));
        }
        let mut given_back = 0;
        for i in 0..MAX_HELD + 10 {
            given_back += usize::from(
                s.hold(recorded(dl("http", "192.0.2.7", None, &i.to_string())))
                    .is_some(),
            );
        }
        assert_eq!(given_back, 10, "records past the cap are counted at once");
        assert!(left(s).is_empty(), "the first {MAX_HELD} of each match");
    }
}
