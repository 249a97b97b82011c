//! The spool: received instances on disk, `<root>/<StudyUID>/<SeriesUID>/<SOPInstanceUID>.dcm`.
//!
//! An instance is streamed into `<root>/.incoming/*.part`, checked, fsynced, renamed into
//! place and its folder fsynced, all before the sender hears "success". A repeated SOP
//! Instance UID replaces the earlier file (last write wins: rename is atomic, so readers see
//! one complete file or the other, never a mix). See docs/spool.md.

use std::fs::{self, File};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use dicom_dictionary_std::tags;
use dicom_object::meta::{FileMetaTable, FileMetaTableBuilder};
use dicom_object::OpenFileOptions;

use super::config::SpoolConfig;
use super::guard::check_declared_lengths;
use super::received::{identify, IdentityError};
use super::uid::Uid;

const INCOMING: &str = ".incoming";
/// Leftover partial files older than this are removed when a spool is opened (a younger one
/// may belong to another node process sharing the spool).
const STALE_PART: Duration = Duration::from_secs(3600);

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool is full: {0}")]
    Full(String),
    #[error("instance exceeds the {limit}-byte limit")]
    TooLarge { limit: u64 },
    #[error("spool I/O: {0}")]
    Io(#[from] io::Error),
    #[error("data set does not parse: {0}")]
    Unparsable(String),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("data set SOP Instance UID {found} differs from the command's {expected}")]
    InstanceMismatch { expected: String, found: String },
}

impl SpoolError {
    fn from_io(e: io::Error) -> Self {
        match e.raw_os_error() {
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => SpoolError::Full(e.to_string()),
            _ => SpoolError::Io(e),
        }
    }
}

/// The spool folder.
#[derive(Debug)]
pub struct Spool {
    root: PathBuf,
    incoming: PathBuf,
    fsync: bool,
    min_free_bytes: u64,
    counter: AtomicU64,
}

/// What is known about an instance before its data set arrives.
#[derive(Debug, Clone)]
pub struct IncomingMeta {
    pub transfer_syntax: String,
    pub sop_class: String,
    pub sop_instance: Uid,
    pub calling_ae: String,
}

/// An instance safely on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredInstance {
    pub study: Uid,
    pub series: Uid,
    pub sop_instance: Uid,
    pub sop_class: String,
    pub path: PathBuf,
    pub calling_ae: String,
    /// True when a file with the same SOP Instance UID was replaced.
    pub replaced: bool,
}

/// A series found in the spool when the node starts.
#[derive(Debug, Clone)]
pub struct SpooledSeries {
    pub study: Uid,
    pub series: Uid,
    pub files: Vec<(Uid, PathBuf)>,
    /// Modification time of the newest file.
    pub newest: SystemTime,
    /// Source AE title recorded in the file meta of one of its files.
    pub calling_ae: Option<String>,
}

impl Spool {
    /// Opens (creating if needed) the spool and removes stale partial files.
    pub fn open(config: &SpoolConfig) -> Result<Self, SpoolError> {
        let incoming = config.root.join(INCOMING);
        fs::create_dir_all(&incoming).map_err(SpoolError::from_io)?;
        for entry in fs::read_dir(&incoming)?.flatten() {
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > STALE_PART);
            if old {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(Spool {
            root: config.root.clone(),
            incoming,
            fsync: config.fsync,
            min_free_bytes: config.min_free_bytes,
            counter: AtomicU64::new(0),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn series_dir(&self, study: &Uid, series: &Uid) -> PathBuf {
        self.root.join(study.as_str()).join(series.as_str())
    }

    /// Refuses when the spool file system is below its free-space floor.
    pub fn check_free_space(&self) -> Result<(), SpoolError> {
        if self.min_free_bytes == 0 {
            return Ok(());
        }
        let free = free_bytes(&self.root).map_err(SpoolError::Io)?;
        if free < self.min_free_bytes {
            return Err(SpoolError::Full(format!(
                "{free} bytes free, {} required",
                self.min_free_bytes
            )));
        }
        Ok(())
    }

    /// Starts an instance: a temporary file holding the file meta group.
    pub fn begin(&self, meta: &IncomingMeta, max_bytes: u64) -> Result<IncomingFile, SpoolError> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let temp = self
            .incoming
            .join(format!(".{}-{nanos}-{n}.part", std::process::id()));
        let mut file = File::create(&temp).map_err(SpoolError::from_io)?;
        let mut incoming = IncomingFile {
            temp: Some(temp),
            file: None,
            root: self.root.clone(),
            fsync: self.fsync,
            expected_instance: meta.sop_instance.clone(),
            calling_ae: meta.calling_ae.clone(),
            transfer_syntax: meta.transfer_syntax.clone(),
            data_offset: 0,
            data_bytes: 0,
            max_bytes,
        };
        let table = file_meta(meta)?;
        file.write_all(&[0u8; 128])
            .and_then(|_| file.write_all(b"DICM"))
            .map_err(SpoolError::from_io)?;
        table
            .write(&mut file)
            .map_err(|e| SpoolError::Io(io::Error::other(e.to_string())))?;
        incoming.data_offset = file.stream_position().map_err(SpoolError::from_io)?;
        incoming.file = Some(file);
        Ok(incoming)
    }

    /// Lists the series held in the spool (for rebuilding pending work after a restart).
    /// Entries that are not valid UIDs are skipped.
    pub fn scan(&self) -> Result<Vec<SpooledSeries>, SpoolError> {
        let mut out = Vec::new();
        for study in uid_entries(&self.root)? {
            for series in uid_entries(&study.1)? {
                let (files, newest) = list_instances(&series.1)?;
                if files.is_empty() {
                    continue;
                }
                let calling_ae = source_ae(&files[0].1);
                out.push(SpooledSeries {
                    study: study.0.clone(),
                    series: series.0,
                    files,
                    newest,
                    calling_ae,
                });
            }
        }
        Ok(out)
    }
}

/// The instance files of one series folder, sorted by SOP Instance UID, and the newest
/// modification time among them.
pub fn list_instances(dir: &Path) -> Result<(Vec<(Uid, PathBuf)>, SystemTime), SpoolError> {
    let mut files = Vec::new();
    let mut newest = SystemTime::UNIX_EPOCH;
    for entry in fs::read_dir(dir)?.flatten() {
        let path = entry.path();
        let Some(stem) = path
            .extension()
            .filter(|e| *e == "dcm")
            .and_then(|_| path.file_stem())
            .and_then(|s| s.to_str())
        else {
            continue;
        };
        let Ok(uid) = Uid::parse(stem) else { continue };
        if let Ok(t) = entry.metadata().and_then(|m| m.modified()) {
            newest = newest.max(t);
        }
        files.push((uid, path));
    }
    files.sort();
    Ok((files, newest))
}

/// A file being received. Dropped without `commit`, its temporary file is removed.
#[derive(Debug)]
pub struct IncomingFile {
    temp: Option<PathBuf>,
    file: Option<File>,
    root: PathBuf,
    fsync: bool,
    expected_instance: Uid,
    calling_ae: String,
    transfer_syntax: String,
    /// Where the data set starts, after the file meta group.
    data_offset: u64,
    data_bytes: u64,
    max_bytes: u64,
}

impl IncomingFile {
    /// Appends data-set bytes.
    pub fn write(&mut self, data: &[u8]) -> Result<(), SpoolError> {
        self.data_bytes += data.len() as u64;
        if self.data_bytes > self.max_bytes {
            return Err(SpoolError::TooLarge {
                limit: self.max_bytes,
            });
        }
        let file = self.file.as_mut().ok_or_else(closed)?;
        file.write_all(data).map_err(SpoolError::from_io)
    }

    /// Checks the data set, makes it durable and moves it to its place in the spool.
    pub fn commit(mut self) -> Result<StoredInstance, SpoolError> {
        let temp = self.temp.clone().ok_or_else(closed)?;
        let mut file = self.file.take().ok_or_else(closed)?;
        file.flush().map_err(SpoolError::from_io)?;
        if self.fsync {
            file.sync_all().map_err(SpoolError::from_io)?;
        }
        drop(file);
        let mut data = File::open(&temp).map_err(SpoolError::from_io)?;
        data.seek(SeekFrom::Start(self.data_offset))?;
        check_declared_lengths(data, &self.transfer_syntax)
            .map_err(|e| SpoolError::Unparsable(e.to_string()))?;
        let obj = OpenFileOptions::new()
            .read_until(tags::PIXEL_DATA)
            .open_file(&temp)
            .map_err(|e| SpoolError::Unparsable(e.to_string()))?;
        let id = identify(&obj)?;
        if id.sop_instance != self.expected_instance {
            return Err(SpoolError::InstanceMismatch {
                expected: self.expected_instance.to_string(),
                found: id.sop_instance.to_string(),
            });
        }
        let study_dir = self.root.join(id.study.as_str());
        let dir = study_dir.join(id.series.as_str());
        let created = !dir.exists();
        fs::create_dir_all(&dir).map_err(SpoolError::from_io)?;
        let path = dir.join(format!("{}.dcm", id.sop_instance));
        let replaced = path.exists();
        fs::rename(&temp, &path).map_err(SpoolError::from_io)?;
        self.temp = None;
        if self.fsync {
            sync_dir(&dir)?;
            if created {
                sync_dir(&study_dir)?;
                sync_dir(&self.root)?;
            }
        }
        Ok(StoredInstance {
            study: id.study,
            series: id.series,
            sop_instance: id.sop_instance,
            sop_class: id.sop_class,
            path,
            calling_ae: self.calling_ae.clone(),
            replaced,
        })
    }
}

impl Drop for IncomingFile {
    fn drop(&mut self) {
        self.file = None;
        if let Some(t) = self.temp.take() {
            let _ = fs::remove_file(t);
        }
    }
}

fn closed() -> SpoolError {
    SpoolError::Io(io::Error::other("incoming file already closed"))
}

fn file_meta(meta: &IncomingMeta) -> Result<FileMetaTable, SpoolError> {
    let mut b = FileMetaTableBuilder::new()
        .transfer_syntax(meta.transfer_syntax.as_str())
        .media_storage_sop_class_uid(meta.sop_class.as_str())
        .media_storage_sop_instance_uid(meta.sop_instance.as_str())
        .implementation_class_uid(IMPLEMENTATION_CLASS_UID)
        .implementation_version_name(IMPLEMENTATION_VERSION);
    if !meta.calling_ae.is_empty() {
        b = b.source_application_entity_title(meta.calling_ae.as_str());
    }
    b.build()
        .map_err(|e| SpoolError::Io(io::Error::other(e.to_string())))
}

/// Our implementation identity in the file meta of spooled files.
/// Under the UUID root `2.25` (PS3.5 B.2), from a random UUID drawn once.
pub const IMPLEMENTATION_CLASS_UID: &str = "2.25.171158764263494038252193999359358121590";
pub const IMPLEMENTATION_VERSION: &str = "SCREENER_01";

fn sync_dir(dir: &Path) -> Result<(), SpoolError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(SpoolError::from_io)
}

fn uid_entries(dir: &Path) -> Result<Vec<(Uid, PathBuf)>, SpoolError> {
    let mut out: Vec<_> = fs::read_dir(dir)?
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| {
            let uid = Uid::parse(e.file_name().to_str()?).ok()?;
            Some((uid, e.path()))
        })
        .collect();
    out.sort();
    Ok(out)
}

fn source_ae(path: &Path) -> Option<String> {
    let mut f = File::open(path).ok()?;
    f.seek(SeekFrom::Start(128)).ok()?;
    let meta = FileMetaTable::from_reader(io::BufReader::new(f)).ok()?;
    meta.source_application_entity_title()
        .map(|s| s.trim_matches([' ', '\0']).to_owned())
        .filter(|s| !s.is_empty())
}

pub fn free_bytes(path: &Path) -> io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())?;
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `s` a writable statvfs.
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(s.f_bavail as u64 * s.f_frsize as u64)
}
