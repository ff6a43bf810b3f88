//! The import state file: a JSON Lines journal of each row's outcome.
//!
//! The first record names the AppId, endpoint and action the rows were sent
//! to, so a state file is never reused against another project or host
//! while it records rows that host registered, rejected or may have
//! received. A state file that records only rows every run sends again
//! (unreachable, busy, rejected for the credentials) moves to a new endpoint.
//! Every later record is `sending`, `registered` or `failed` for one row,
//! identified by a key derived from the row's content. The last record of a
//! key is the row's state.
//!
//! [`Journal::append`] returns only once the record is on disk
//! (`fdatasync`). One writer thread writes every record that arrived while
//! the previous batch was being synced, then syncs once: concurrent rows
//! share one sync (group commit).
//!
//! The file is locked while a run uses it, so two runs cannot interleave.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;
use zego_core::Registration;

use crate::exit::{CliError, ExitCode};

/// The state-file format this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// Maximum records written between two syncs.
const MAX_BATCH: usize = 1024;

/// One line of the state file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    /// The first line: where the rows were sent.
    Header(Header),
    /// Written before the row's request is sent.
    Sending { key: String, line: u64 },
    /// ZEGO replied Code 0.
    Registered {
        key: String,
        line: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        request_id: Option<String>,
    },
    /// The row is not registered. `permanent` rows are sent again only with
    /// `--retry-failed`; the others are sent again by the next run.
    Failed {
        key: String,
        line: u64,
        permanent: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<i64>,
        reason: String,
    },
}

/// The state file's first record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub version: u32,
    pub app_id: u32,
    pub endpoint: String,
    pub action: String,
    /// The input file of the first run, for people reading the state file.
    pub input: String,
}

/// The rows that earlier runs recorded in the state file.
#[derive(Debug, Default)]
pub struct Resumed {
    /// Each row's last state, by row key.
    pub states: HashMap<String, RowState>,
    /// The endpoint in the state file, when it differs from this run's and
    /// the state file was moved to this run's endpoint.
    pub moved_from: Option<String>,
}

/// A row's state as an earlier run left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowState {
    /// The request may or may not have reached ZEGO: the run stopped before
    /// recording its outcome.
    InDoubt,
    Registered,
    Failed {
        permanent: bool,
        code: Option<i64>,
        reason: String,
    },
}

impl RowState {
    /// Returns whether every run sends the row again, whatever endpoint it
    /// uses, because the endpoint was unreachable or busy, or rejected the
    /// credentials or configuration. Such a state does not tie the row to
    /// that endpoint.
    pub fn is_sent_again(&self) -> bool {
        matches!(self, RowState::Failed { permanent: false, .. })
    }
}

/// Returns the key that identifies a registration in the state file: the
/// first 16 bytes of the SHA-256 of user id, provider, token and device id,
/// in hex. Rows with the same key are the same registration.
pub fn row_key(registration: &Registration) -> String {
    let mut hasher = Sha256::new();
    hasher.update(registration.user_id.as_str().as_bytes());
    hasher.update([0]);
    hasher.update([registration.provider().code()]);
    hasher.update(registration.token.as_str().as_bytes());
    hasher.update([0]);
    if let Some(device_id) = &registration.device_id {
        hasher.update(device_id.as_str().as_bytes());
    }
    hex::encode(&hasher.finalize()[..16])
}

struct Message {
    line: Vec<u8>,
    done: oneshot::Sender<io::Result<()>>,
}

/// An open, locked state file.
#[derive(Debug)]
pub struct Journal {
    sender: Option<mpsc::Sender<Message>>,
    writer: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message").field("bytes", &self.line.len()).finish_non_exhaustive()
    }
}

impl Journal {
    /// Opens or creates the state file at `path` and returns the state of
    /// every row an earlier run recorded. `restart` deletes the file first.
    ///
    /// Starts a state file for another endpoint again for this one when
    /// every row it records is sent again anyway
    /// ([`RowState::is_sent_again`]), and rejects it otherwise.
    pub fn open(path: &Path, header: &Header, restart: bool) -> Result<(Self, Resumed), CliError> {
        let path_text = path.display().to_string();
        let io_error = |action: &str, error: io::Error| {
            CliError::input(format!("cannot {action} the state file {path_text}: {error}"))
        };

        if restart {
            match std::fs::remove_file(path) {
                Ok(()) => tracing::info!(state = %path_text, "deleted the state file (--restart)"),
                Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                Err(error) => return Err(io_error("delete", error)),
            }
        }

        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(|error| io_error("open", error))?;
        lock(&file, &path_text)?;

        let mut contents = Vec::new();
        file.read_to_end(&mut contents).map_err(|error| io_error("read", error))?;
        let Parsed { header: found, states, valid_len } = parse(&contents, &path_text)?;
        let resumed = if let Some(found) = found {
            check_header(&found, header, &path_text)?;
            if found.endpoint == header.endpoint {
                if valid_len < contents.len() {
                    // A crash during a write left a partial last line; later records start on a new line.
                    tracing::warn!(state = %path_text, "ignoring a partial last line left by an interrupted write");
                    file.set_len(valid_len as u64).map_err(|error| io_error("repair", error))?;
                }
                Resumed { states, moved_from: None }
            } else if states.values().all(RowState::is_sent_again) {
                // Nothing recorded depends on the old endpoint, so starting
                // the file again for the new one sends exactly the same rows.
                file.set_len(0).map_err(|error| io_error("rewrite", error))?;
                write_header(&mut file, path, header).map_err(|error| io_error("write", error))?;
                tracing::info!(state = %path_text, from = %found.endpoint, to = %header.endpoint, "moved the state file to a new endpoint");
                Resumed { states: HashMap::new(), moved_from: Some(found.endpoint) }
            } else {
                let tied = states.values().filter(|state| !state.is_sent_again()).count();
                return Err(CliError::input(format!(
                    "the state file {path_text} records {} registered, rejected or in doubt at the endpoint {}, but this run uses {}. To resume, run with the --base-url or --region of {}; to send every row to {}, give another --state or --restart",
                    crate::output::plural(tied as u64, "row"),
                    found.endpoint,
                    header.endpoint,
                    found.endpoint,
                    header.endpoint
                )));
            }
        } else {
            // A new file, or a first run that crashed while writing the header.
            file.set_len(0).map_err(|error| io_error("rewrite", error))?;
            write_header(&mut file, path, header).map_err(|error| io_error("write", error))?;
            Resumed::default()
        };

        let (sender, receiver) = mpsc::channel();
        let writer = std::thread::Builder::new()
            .name("state-file".into())
            .spawn(move || write_loop(file, &receiver))
            .map_err(|error| CliError::new(ExitCode::Failure, error))?;
        Ok((Self { sender: Some(sender), writer: Some(writer) }, resumed))
    }

    /// Appends `record` and returns once it is on disk.
    pub async fn append(&self, record: &Record) -> io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(io::Error::other)?;
        line.push(b'\n');
        let (done, wait) = oneshot::channel();
        let sender = self.sender.as_ref().ok_or_else(|| io::Error::other("the state file is closed"))?;
        sender.send(Message { line, done }).map_err(|_| io::Error::other("the state-file writer stopped"))?;
        wait.await.map_err(|_| io::Error::other("the state-file writer stopped"))?
    }
}

impl Drop for Journal {
    /// Stops the writer thread after it has written every record sent so far.
    fn drop(&mut self) {
        drop(self.sender.take());
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// Takes an exclusive lock on the state file. The lock (`flock` on Unix)
/// ends with the process, so a crashed run never leaves the file locked.
fn lock(file: &File, path_text: &str) -> Result<(), CliError> {
    // Called as a trait function: `File::try_lock` of the standard library
    // needs a newer Rust than this workspace's minimum.
    match fs4::FileExt::try_lock(file) {
        Ok(()) => Ok(()),
        Err(fs4::TryLockError::WouldBlock) => Err(CliError::input(format!(
            "another zego-push import is using the state file {path_text}; wait for it to finish, or give another --state"
        ))),
        Err(fs4::TryLockError::Error(error)) => {
            Err(CliError::input(format!("cannot lock the state file {path_text}: {error}")))
        }
    }
}

/// Writes the header to a new state file and makes both the file and its
/// directory entry durable.
fn write_header(file: &mut File, path: &Path, header: &Header) -> io::Result<()> {
    let mut line = serde_json::to_vec(&Record::Header(header.clone())).map_err(io::Error::other)?;
    line.push(b'\n');
    file.write_all(&line)?;
    file.sync_all()?;
    sync_directory(path)
}

#[cfg(unix)]
fn sync_directory(path: &Path) -> io::Result<()> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    File::open(directory)?.sync_all()
}

#[cfg(not(unix))]
fn sync_directory(_path: &Path) -> io::Result<()> {
    Ok(())
}

/// The records of an existing state file.
struct Parsed {
    /// `None` when not even the header line is complete.
    header: Option<Header>,
    /// Each row's last state, by row key.
    states: HashMap<String, RowState>,
    /// The length of the file up to its last complete line.
    valid_len: usize,
}

/// Reads the records of an existing state file.
fn parse(contents: &[u8], path_text: &str) -> Result<Parsed, CliError> {
    let mut header = None;
    let mut states = HashMap::new();
    let mut offset = 0;
    let mut number = 0;
    while offset < contents.len() {
        let Some(end) = contents[offset..].iter().position(|&b| b == b'\n').map(|i| offset + i) else {
            // No newline: a partial record from an interrupted write.
            break;
        };
        let text = &contents[offset..end];
        number += 1;
        offset = end + 1;

        let record: Record = serde_json::from_slice(text).map_err(|error| {
            CliError::input(format!(
                "the state file {path_text} is damaged at line {number} ({error}); move it away to start over, or give --restart"
            ))
        })?;
        match (number, record) {
            (1, Record::Header(found)) => header = Some(found),
            (1, _) => {
                return Err(CliError::input(format!(
                    "{path_text} does not start with a zego-push state header; give another --state"
                )))
            }
            (_, Record::Header(_)) => {}
            (_, Record::Sending { key, .. }) => {
                states.insert(key, RowState::InDoubt);
            }
            (_, Record::Registered { key, .. }) => {
                states.insert(key, RowState::Registered);
            }
            (_, Record::Failed { key, permanent, code, reason, .. }) => {
                states.insert(key, RowState::Failed { permanent, code, reason });
            }
        }
    }
    Ok(Parsed { header, states, valid_len: offset })
}

/// Checks the format version, AppId and action. The endpoint is checked by
/// the caller, because a changed endpoint is accepted in some cases.
fn check_header(found: &Header, expected: &Header, path_text: &str) -> Result<(), CliError> {
    if found.version != FORMAT_VERSION {
        return Err(CliError::input(format!(
            "the state file {path_text} has format version {}; this zego-push reads version {FORMAT_VERSION}",
            found.version
        )));
    }
    let mismatch = |what: &str, was: &str, now: &str| {
        CliError::input(format!(
            "the state file {path_text} records rows sent with {what} {was}, but this run uses {now}; give another --state, or --restart to send every row again"
        ))
    };
    if found.app_id != expected.app_id {
        return Err(mismatch("AppId", &found.app_id.to_string(), &expected.app_id.to_string()));
    }
    if found.action != expected.action {
        return Err(mismatch("action", &found.action, &expected.action));
    }
    Ok(())
}

/// Writes batches of records, one sync per batch, until every sender is gone.
fn write_loop(mut file: File, receiver: &mpsc::Receiver<Message>) {
    while let Ok(first) = receiver.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(message) => batch.push(message),
                Err(_) => break,
            }
        }

        let bytes: Vec<u8> = batch.iter().flat_map(|message| message.line.iter().copied()).collect();
        let result = file.write_all(&bytes).and_then(|()| file.sync_data());
        for message in batch {
            let reply = match &result {
                Ok(()) => Ok(()),
                Err(error) => Err(io::Error::new(error.kind(), error.to_string())),
            };
            let _ = message.done.send(reply);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            version: FORMAT_VERSION,
            app_id: 7,
            endpoint: "http://127.0.0.1:9/".into(),
            action: "PushRegister".into(),
            input: "rows.csv".into(),
        }
    }

    fn registration(user_id: &str) -> Registration {
        Registration::parse(user_id, "token", "android", None, None).unwrap()
    }

    #[tokio::test]
    async fn records_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.jsonl");
        let (journal, resumed) = Journal::open(&path, &header(), false).unwrap();
        assert!(resumed.states.is_empty());
        journal.append(&Record::Sending { key: "a".into(), line: 2 }).await.unwrap();
        journal.append(&Record::Registered { key: "a".into(), line: 2, request_id: None }).await.unwrap();
        journal.append(&Record::Sending { key: "b".into(), line: 3 }).await.unwrap();
        drop(journal);

        let (_journal, resumed) = Journal::open(&path, &header(), false).unwrap();
        assert_eq!(resumed.states.get("a"), Some(&RowState::Registered));
        assert_eq!(resumed.states.get("b"), Some(&RowState::InDoubt));
        assert_eq!(resumed.moved_from, None);
    }

    #[test]
    fn partial_last_line_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.jsonl");
        let (journal, _) = Journal::open(&path, &header(), false).unwrap();
        drop(journal);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"{\"type\":\"sending\",\"key\":\"a\",\"li").unwrap();
        drop(file);

        let (journal, resumed) = Journal::open(&path, &header(), false).unwrap();
        assert!(resumed.states.is_empty());
        drop(journal);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.ends_with('\n'), "{text:?}");
        assert_eq!(text.lines().count(), 1);
    }

    #[test]
    fn rejects_other_app_id() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.jsonl");
        drop(Journal::open(&path, &header(), false).unwrap().0);
        let other = Header { app_id: 8, ..header() };
        let error = Journal::open(&path, &other, false).unwrap_err();
        assert!(error.to_string().contains("AppId 7"), "{error}");
        drop(Journal::open(&path, &other, true).unwrap().0);
    }

    #[test]
    fn partial_header_is_written_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.jsonl");
        std::fs::write(&path, b"{\"type\":\"header\",\"ver").unwrap();
        drop(Journal::open(&path, &header(), false).unwrap().0);
        let (_journal, resumed) = Journal::open(&path, &header(), false).unwrap();
        assert!(resumed.states.is_empty());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("{\"type\":\"header\",\"version\":1,"), "{text:?}");
    }

    #[tokio::test]
    async fn endpoint_moves_when_no_row_depends_on_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.jsonl");
        let (journal, _) = Journal::open(&path, &header(), false).unwrap();
        journal.append(&Record::Sending { key: "a".into(), line: 2 }).await.unwrap();
        let unreachable = Record::Failed {
            key: "a".into(),
            line: 2,
            permanent: false,
            code: None,
            reason: "timed out".into(),
        };
        journal.append(&unreachable).await.unwrap();
        drop(journal);

        let other = Header { endpoint: "http://127.0.0.1:10/".into(), ..header() };
        let (journal, resumed) = Journal::open(&path, &other, false).unwrap();
        assert_eq!(resumed.moved_from.as_deref(), Some("http://127.0.0.1:9/"));
        assert!(resumed.states.is_empty());
        journal.append(&Record::Registered { key: "a".into(), line: 2, request_id: None }).await.unwrap();
        drop(journal);

        // The file now belongs to the new endpoint, which registered a row.
        let (journal, resumed) = Journal::open(&path, &other, false).unwrap();
        assert_eq!(resumed.moved_from, None);
        assert_eq!(resumed.states.get("a"), Some(&RowState::Registered));
        drop(journal);
        let error = Journal::open(&path, &header(), false).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("records 1 row registered, rejected or in doubt"), "{message}");
        assert!(message.contains("run with the --base-url or --region of http://127.0.0.1:10/"), "{message}");
    }

    #[test]
    fn second_open_is_locked_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.jsonl");
        let (journal, _) = Journal::open(&path, &header(), false).unwrap();
        let error = Journal::open(&path, &header(), false).unwrap_err();
        assert!(error.to_string().contains("another zego-push import"), "{error}");
        drop(journal);
    }

    #[test]
    fn row_key_depends_on_every_field() {
        let base = registration("u1");
        assert_eq!(row_key(&base), row_key(&registration("u1")));
        assert_ne!(row_key(&base), row_key(&registration("u2")));
        let ios = Registration::parse("u1", "token", "ios", Some("fcm"), Some("phone")).unwrap();
        assert_ne!(row_key(&base), row_key(&ios));
        assert_eq!(row_key(&base).len(), 32);
    }
}
