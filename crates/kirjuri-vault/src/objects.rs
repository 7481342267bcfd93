//! Object storage: where sealed objects live, behind the small async
//! [`ObjectStore`] trait, with [`LocalFolder`] as the embedded default.
//!
//! Only ciphertext ever reaches this layer — the output of
//! [`crate::stream::StreamSealer`]. Nothing here knows keys, plaintext or what
//! an object is; it moves opaque, immutable byte strings named by
//! [`ObjectId`].
//!
//! The trait is shaped after what an S3-compatible backend (the
//! `object_store` crate: multipart upload, ranged GET, HEAD, DELETE, LIST)
//! can do, so one drops in later: `put` starts an upload whose bytes are
//! invisible until `commit`, reads are ranged, and `list` reports unfinished
//! uploads too so an orphan sweep can remove what a crash left behind.
//!
//! [`LocalFolder`] layout:
//! ```text
//! root/tmp/<uuid>.part     uploads in progress (create_new, mode 0600)
//! root/<xx>/<uuid>.kjr     finished objects; xx = the uuid's last two hex
//!                          digits (UUIDv7 starts with the time, so its end
//!                          spreads objects evenly over 256 directories)
//! ```
//! Commit is durable when it returns: the data is fsynced, linked into place
//! (never replacing an existing object), and both directories are fsynced.
//!
//! Not here: encryption (a writer's `seal` helpers only place what a
//! [`StreamSealer`] produces), database rows, retention decisions, the S3
//! backend (`crate::s3`).

use std::collections::VecDeque;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io;
use std::ops::Range;
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use kirjuri_core::ids::ObjectId;
use tokio::task::JoinHandle;

use crate::error::{Error, IoContext, Result};
use crate::fsio::{blocking, create_private_dir, fsync_dir};
use crate::stream::{SEALED_SEGMENT_LEN, StreamSealer};

/// Runs a [`ObjectWriter::write_with`] fill on `buffer` and returns how
/// many bytes it appended. A fill that fails, appends more than
/// [`FILL_ROOM`] or cuts into what was there is undone: `buffer` is left as
/// it was.
pub(crate) fn fill_within_room(buffer: &mut Vec<u8>, fill: &mut Fill<'_>) -> Result<usize> {
    let start = buffer.len();
    let filled = fill(buffer);
    let appended = buffer.len().checked_sub(start).filter(|n| *n <= FILL_ROOM);
    match (filled, appended) {
        (Ok(()), Some(appended)) => Ok(appended),
        (filled, _) => {
            buffer.truncate(start);
            filled?;
            Err(Error::InvalidInput(format!(
                "a write_with fill may append at most {FILL_ROOM} bytes"
            )))
        }
    }
}

/// A store of immutable sealed objects.
#[async_trait]
pub trait ObjectStore: Send + Sync + std::fmt::Debug {
    /// Starts writing the object `id`. Nothing is visible under `id` until the
    /// writer commits. Refused if the object (or an upload of it) exists.
    async fn put(&self, id: &ObjectId) -> Result<Box<dyn ObjectWriter>>;

    /// Exactly the bytes `range` of the object; [`Error::Truncated`] if the
    /// object is shorter, never a silently short read.
    async fn get_range(&self, id: &ObjectId, range: Range<u64>) -> Result<Bytes>;

    /// The stored length of the object.
    async fn len(&self, id: &ObjectId) -> Result<u64>;

    /// The stored length of the object and its first `n` bytes (all of it,
    /// if it is shorter): what opening it for reading needs. A store that
    /// can answer both at once (a folder: one open, stat and read in one
    /// blocking task) overrides it; an audited seek makes one hand-off to
    /// the blocking pool fewer (issue 16 §3).
    async fn head(&self, id: &ObjectId, n: u64) -> Result<(u64, Bytes)> {
        let len = self.len(id).await?;
        let bytes = self.get_range(id, 0..n.min(len)).await?;
        Ok((len, bytes))
    }

    /// [`ObjectStore::head`] and then the bytes `range`, exactly as
    /// [`ObjectStore::get_range`] reads them (an empty range reads nothing):
    /// what a seek needs before its first byte — the length to check, the
    /// header to open the object with, the first segments it decrypts. A
    /// store that can do all three at once (a folder: one open, stat and
    /// two reads in one blocking task) overrides it; an audited seek then
    /// makes one hand-off to the blocking pool instead of two (issue 16 §3).
    async fn head_and_range(
        &self,
        id: &ObjectId,
        n: u64,
        range: Range<u64>,
    ) -> Result<(u64, Bytes, Bytes)> {
        let (len, head) = self.head(id, n).await?;
        let bytes = if range.is_empty() {
            Bytes::new()
        } else {
            self.get_range(id, range).await?
        };
        Ok((len, head, bytes))
    }

    /// Removes the object and any unfinished upload of it. Deleting what is
    /// not there is not an error.
    async fn delete(&self, id: &ObjectId) -> Result<()>;

    /// [`ObjectStore::delete`] of each of `ids`, one after the other: the
    /// outcome of each, in order. A store that deletes many more cheaply
    /// than one by one (a folder: one blocking task for all the unlinks
    /// instead of one each) overrides it; callers wanting concurrency run
    /// several calls at once.
    async fn delete_many(&self, ids: &[ObjectId]) -> Vec<Result<()>> {
        let mut outcomes = Vec::with_capacity(ids.len());
        for id in ids {
            outcomes.push(self.delete(id).await);
        }
        outcomes
    }

    /// Every finished object and every unfinished upload, for orphan sweeps.
    async fn list(&self) -> Result<Vec<ObjectId>>;
}

/// Appends to a writer's own buffer, for [`ObjectWriter::write_with`].
pub type Fill<'a> = dyn FnMut(&mut Vec<u8>) -> Result<()> + Send + 'a;

/// Room every [`ObjectWriter::write_with`] call has: two sealed segments,
/// so one [`StreamSealer::push_one`](crate::stream::StreamSealer::push_one)
/// always fits.
pub const FILL_ROOM: usize = 2 * SEALED_SEGMENT_LEN;

/// An upload in progress, from [`ObjectStore::put`].
#[async_trait]
pub trait ObjectWriter: Send {
    /// Appends bytes.
    async fn write(&mut self, bytes: Bytes) -> Result<()>;

    /// Appends what `fill` appends to the vector it is given: at most
    /// [`FILL_ROOM`] bytes, which it may also change in place (seal). A
    /// writer that buffers passes its own buffer, so the bytes are written
    /// where they will leave from instead of being copied there: the ingest
    /// bench's profile showed a recording's bytes copied three times on
    /// their way to the disk (issue 16 §1). A fill that fails or appends
    /// more than the room is undone and refused (`fill_within_room`). The
    /// default collects the bytes and calls [`write`](Self::write).
    async fn write_with(&mut self, fill: &mut Fill<'_>) -> Result<()> {
        let mut bytes = Vec::new();
        fill_within_room(&mut bytes, fill)?;
        self.write(Bytes::from(bytes)).await
    }

    /// Writes `sealer`'s header: the start of every sealed object.
    async fn seal_header(&mut self, sealer: &StreamSealer) -> Result<()> {
        let header = sealer.header();
        self.write_with(&mut |out| {
            out.extend_from_slice(&header);
            Ok(())
        })
        .await
    }

    /// Seals `data` with `sealer` straight into this writer's buffer, a
    /// segment at a time ([`StreamSealer::push_one`] into
    /// [`write_with`](Self::write_with)): the plaintext is copied once,
    /// into the place it leaves from.
    async fn seal(&mut self, sealer: &mut StreamSealer, mut data: &[u8]) -> Result<()> {
        while !data.is_empty() {
            let mut taken = 0;
            self.write_with(&mut |out| {
                taken = sealer.push_one(data, out)?;
                Ok(())
            })
            .await?;
            data = &data[taken..];
        }
        Ok(())
    }

    /// Seals the last segment and writes it.
    async fn seal_last(&mut self, sealer: StreamSealer) -> Result<()> {
        let mut last = Vec::with_capacity(SEALED_SEGMENT_LEN);
        sealer.finish(&mut last)?;
        self.write(Bytes::from(last)).await
    }

    /// Makes the object visible under its id; durable when it returns.
    async fn commit(self: Box<Self>) -> Result<()>;

    /// Discards the upload.
    async fn abort(self: Box<Self>) -> Result<()>;
}

/// The most bytes gathered before one write to disk. Large enough that the
/// cost of handing a write to the blocking pool is noise and direct I/O
/// runs at the disk's speed; three of these being written and one filling
/// are all the memory a writer uses. A multiple of the direct-I/O alignment.
pub const WRITE_CHUNK_LEN: usize = 2 << 20;

/// The first chunk of an upload; each next one is twice as long, up to
/// [`WRITE_CHUNK_LEN`]. A small object (a waveform, an attachment, most
/// of a one-minute call) then never holds a whole 2 MiB buffer, and many
/// concurrent small uploads hold a fraction of the memory (issue 16 §6),
/// while a long recording reaches full chunks after its first 1.75 MiB.
/// A multiple of the direct-I/O alignment.
const FIRST_CHUNK_LEN: usize = 256 << 10;

/// Chunks of one upload written at once. With one, the disk waited for the
/// next write while the writer waited for the last one to finish: the
/// ingest bench's 1 GiB kept the disk busy 1.1–1.3 s, where `dd` with
/// `oflag=direct` keeps it busy 0.6 s for the same bytes (issue 16 §1).
/// Each write has its own offset, so they need no order among themselves.
const WRITES_IN_FLIGHT: usize = 3;

/// Name of the upload directory under the root.
const TEMP_DIR: &str = "tmp";
/// Extension of finished objects.
const OBJECT_EXT: &str = "kjr";
/// Extension of uploads in progress.
const TEMP_EXT: &str = "part";

/// Objects as files in a local folder (the embedded default).
#[derive(Debug, Clone)]
pub struct LocalFolder {
    /// The folder holding the fan-out directories and `tmp/`.
    root: PathBuf,
    /// Whether uploads bypass the page cache (`O_DIRECT`) where possible.
    direct_io: bool,
}

impl LocalFolder {
    /// Opens (creating if needed, mode 0700) the object folder at `root`,
    /// with its upload directory and all 256 fan-out directories.
    pub fn open(root: &Path) -> Result<Self> {
        let folder = Self {
            root: root.to_owned(),
            direct_io: true,
        };
        let mut builder = DirBuilder::new();
        builder.recursive(true).mode(0o700);
        builder
            .create(folder.temp_dir())
            .io_context(|| format!("failed to create object folder {}", root.display()))?;
        let mut created = false;
        for fan_out in 0..=255u8 {
            let dir = root.join(hex::encode([fan_out]));
            match fs::create_dir(&dir) {
                Ok(()) => created = true,
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
                Err(error) => {
                    return Err(Error::Io {
                        context: format!("failed to create {}", dir.display()),
                        source: error,
                    });
                }
            }
        }
        if created {
            fsync_dir(root)?;
        }
        Ok(folder)
    }

    /// Turns direct I/O for uploads on (the default) or off. Off, uploads go
    /// through the page cache; on filesystems without direct I/O that happens
    /// anyway.
    pub fn with_direct_io(mut self, enabled: bool) -> Self {
        self.direct_io = enabled;
        self
    }

    /// The folder's root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn temp_dir(&self) -> PathBuf {
        self.root.join(TEMP_DIR)
    }

    /// Where the finished object `id` lives.
    fn object_path(&self, id: &ObjectId) -> PathBuf {
        let name = id.to_string();
        let fan_out = name.get(name.len().saturating_sub(2)..).unwrap_or("00");
        self.root.join(fan_out).join(format!("{name}.{OBJECT_EXT}"))
    }

    /// Where an upload of `id` is written.
    fn temp_path(&self, id: &ObjectId) -> PathBuf {
        self.temp_dir().join(format!("{id}.{TEMP_EXT}"))
    }
}

/// Removes an object's files (the object, an unfinished upload of it);
/// what is not there is not an error. No directory fsync: a purge must
/// delete a million objects a minute, and an object that reappears after a
/// crash is unreadable anyway — its data key is gone from the database
/// (crypto-shredding).
fn remove_files(paths: &[PathBuf]) -> Result<()> {
    for path in paths {
        match fs::remove_file(path) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => {
                return Err(Error::Io {
                    context: format!("failed to delete {}", path.display()),
                    source: error,
                });
            }
        }
    }
    Ok(())
}

/// Opens the object file at `path`, takes its length, and reads the range
/// `range(length)` of it: [`Error::NotFound`] if there is no file,
/// [`Error::Truncated`] if the range runs past its end (then or while
/// reading). Returns the length and the bytes. Blocking.
fn read_at(
    path: &Path,
    id: ObjectId,
    range: impl FnOnce(u64) -> Range<u64>,
) -> Result<(u64, Bytes)> {
    read_range(&open_object(path, id)?, path, id, range)
}

/// Opens the object file at `path` for reading: [`Error::NotFound`] if
/// there is none. Blocking.
fn open_object(path: &Path, id: ObjectId) -> Result<File> {
    match File::open(path) {
        Ok(file) => Ok(file),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Err(Error::NotFound(id)),
        Err(error) => Err(Error::Io {
            context: format!("failed to open {}", path.display()),
            source: error,
        }),
    }
}

/// [`read_at`] on the object's `file`, opened from `path`. Blocking.
fn read_range(
    file: &File,
    path: &Path,
    id: ObjectId,
    range: impl FnOnce(u64) -> Range<u64>,
) -> Result<(u64, Bytes)> {
    let stored = file
        .metadata()
        .io_context(|| format!("failed to stat {}", path.display()))?
        .len();
    let range = range(stored);
    let len = range_len(&range)?;
    let truncated = || Error::Truncated {
        id,
        wanted: range.end,
        len: stored,
    };
    if range.end > stored {
        return Err(truncated());
    }
    let mut buffer = vec![0u8; len];
    match file.read_exact_at(&mut buffer, range.start) {
        Ok(()) => Ok((stored, Bytes::from(buffer))),
        // Shrunk between stat and read: still a truncation.
        Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => Err(truncated()),
        Err(error) => Err(Error::Io {
            context: format!("failed to read {}", path.display()),
            source: error,
        }),
    }
}

/// The length of a byte range asked of a store, refusing one that runs
/// backwards or would not fit in memory.
pub(crate) fn range_len(range: &Range<u64>) -> Result<usize> {
    if range.start > range.end {
        return Err(Error::InvalidInput(format!(
            "range {}..{} runs backwards",
            range.start, range.end
        )));
    }
    usize::try_from(range.end - range.start)
        .map_err(|_| Error::InvalidInput("range too large for memory".into()))
}

/// Ids of the files in `dir` named `<uuid>.<ext>`; other names are ignored.
fn ids_in(dir: &Path, ext: &str, ids: &mut Vec<ObjectId>) -> Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => {
            return Err(Error::Io {
                context: format!("failed to list {}", dir.display()),
                source: error,
            });
        }
    };
    for entry in entries {
        let entry = entry.io_context(|| format!("failed to list {}", dir.display()))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(stem) = name.strip_suffix(ext).and_then(|s| s.strip_suffix('.')) else {
            continue;
        };
        if let Ok(id) = stem.parse::<ObjectId>() {
            ids.push(id);
        }
    }
    Ok(())
}

#[async_trait]
impl ObjectStore for LocalFolder {
    async fn put(&self, id: &ObjectId) -> Result<Box<dyn ObjectWriter>> {
        let id = *id;
        let temp_path = self.temp_path(&id);
        let final_path = self.object_path(&id);
        let direct = self.direct_io;
        let (sink, final_path) = blocking(move || {
            if fs::symlink_metadata(&final_path).is_ok() {
                return Err(Error::AlreadyExists(id));
            }
            let sink = Sink::create(&temp_path, direct).map_err(|error| match error.kind() {
                io::ErrorKind::AlreadyExists => Error::AlreadyExists(id),
                _ => Error::Io {
                    context: format!("failed to create upload {}", temp_path.display()),
                    source: error,
                },
            })?;
            Ok((sink, final_path))
        })
        .await?;
        Ok(Box::new(LocalWriter {
            id,
            final_path,
            sink,
            current: AlignedBuf::new(FIRST_CHUNK_LEN),
            spare: Vec::new(),
            in_flight: VecDeque::new(),
            failed: false,
            finished: false,
        }))
    }

    async fn get_range(&self, id: &ObjectId, range: Range<u64>) -> Result<Bytes> {
        range_len(&range)?;
        let id = *id;
        let path = self.object_path(&id);
        blocking(move || read_at(&path, id, |_| range).map(|(_, bytes)| bytes)).await
    }

    async fn head(&self, id: &ObjectId, n: u64) -> Result<(u64, Bytes)> {
        let id = *id;
        let path = self.object_path(&id);
        blocking(move || read_at(&path, id, |stored| 0..n.min(stored))).await
    }

    async fn head_and_range(
        &self,
        id: &ObjectId,
        n: u64,
        range: Range<u64>,
    ) -> Result<(u64, Bytes, Bytes)> {
        let id = *id;
        let path = self.object_path(&id);
        blocking(move || {
            let file = open_object(&path, id)?;
            let (stored, head) = read_range(&file, &path, id, |stored| 0..n.min(stored))?;
            let bytes = if range.is_empty() {
                Bytes::new()
            } else {
                read_range(&file, &path, id, |_| range)?.1
            };
            Ok((stored, head, bytes))
        })
        .await
    }

    async fn len(&self, id: &ObjectId) -> Result<u64> {
        let id = *id;
        let path = self.object_path(&id);
        blocking(move || match fs::metadata(&path) {
            Ok(metadata) => Ok(metadata.len()),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Err(Error::NotFound(id)),
            Err(error) => Err(Error::Io {
                context: format!("failed to stat {}", path.display()),
                source: error,
            }),
        })
        .await
    }

    async fn delete(&self, id: &ObjectId) -> Result<()> {
        let paths = [self.object_path(id), self.temp_path(id)];
        blocking(move || remove_files(&paths)).await
    }

    async fn delete_many(&self, ids: &[ObjectId]) -> Vec<Result<()>> {
        // One blocking task for the lot: a purge deletes a million objects,
        // and a task per object cost more in thread hand-offs than the
        // unlinks themselves.
        let paths: Vec<[PathBuf; 2]> = ids
            .iter()
            .map(|id| [self.object_path(id), self.temp_path(id)])
            .collect();
        let count = paths.len();
        let outcomes = blocking(move || {
            Ok::<_, Error>(paths.iter().map(|paths| remove_files(paths)).collect())
        })
        .await;
        match outcomes {
            Ok(outcomes) => outcomes,
            // The task itself failed (a panic): none is known deleted.
            Err(error) => (0..count)
                .map(|_| {
                    Err(Error::Io {
                        context: "failed to delete objects".to_owned(),
                        source: io::Error::other(error.to_string()),
                    })
                })
                .collect(),
        }
    }

    async fn list(&self) -> Result<Vec<ObjectId>> {
        let root = self.root.clone();
        let temp_dir = self.temp_dir();
        blocking(move || {
            let mut ids = Vec::new();
            for fan_out in 0..=255u8 {
                ids_in(&root.join(hex::encode([fan_out])), OBJECT_EXT, &mut ids)?;
            }
            ids_in(&temp_dir, TEMP_EXT, &mut ids)?;
            ids.sort_unstable();
            ids.dedup();
            Ok(ids)
        })
        .await
    }
}

/// Alignment direct I/O needs for the buffer address, the file offset and the
/// length (the largest logical block size in common use).
const DIRECT_ALIGN: usize = 4096;

/// A buffer for one chunk (at most [`WRITE_CHUNK_LEN`]) whose start is
/// aligned for direct I/O, with [`FILL_ROOM`] beyond it for a
/// [`ObjectWriter::write_with`] that crosses the chunk's end (the excess
/// moves to the next buffer).
struct AlignedBuf {
    /// The allocation, reserved `DIRECT_ALIGN` larger than needed and never
    /// grown past that, so the aligned start stays put. Its length is the
    /// bytes written into it so far (`start` + the high-water mark of
    /// `len`): it is filled as data arrives, never zeroed ahead.
    storage: Vec<u8>,
    /// Offset of the first aligned byte in `storage`.
    start: usize,
    /// Bytes filled from `start`.
    len: usize,
    /// The chunk this buffer holds: full at this many bytes.
    chunk: usize,
}

impl AlignedBuf {
    fn new(chunk: usize) -> Self {
        // Reserved, not zeroed: zeroing 4 MiB for every upload (glibc hands
        // a freed block back from its heap, so calloc must clear it) cost
        // the cluster bench's small calls more than writing them did.
        let mut storage: Vec<u8> = Vec::with_capacity(chunk + FILL_ROOM + DIRECT_ALIGN);
        let start = (DIRECT_ALIGN - storage.as_ptr().addr() % DIRECT_ALIGN) % DIRECT_ALIGN;
        storage.resize(start, 0);
        Self {
            storage,
            start,
            len: 0,
            chunk,
        }
    }

    /// An unallocated stand-in for a buffer taken away by `commit`, which
    /// consumes its writer: never filled, never written.
    fn taken() -> Self {
        Self {
            storage: Vec::new(),
            start: 0,
            len: 0,
            chunk: 0,
        }
    }

    fn is_full(&self) -> bool {
        self.len >= self.chunk
    }

    /// Lets `fill` append in place. Called only below a full chunk, so the
    /// reserve holds [`FILL_ROOM`] more; a fill past it (which would move
    /// the allocation off its alignment) is refused and undone.
    fn append_with(&mut self, fill: &mut Fill<'_>) -> Result<()> {
        self.storage.truncate(self.start + self.len);
        self.len += fill_within_room(&mut self.storage, fill)?;
        Ok(())
    }

    /// Copies as much of `data` as fits; returns how much.
    fn fill(&mut self, data: &[u8]) -> usize {
        let n = (self.chunk - self.len).min(data.len());
        let at = self.start + self.len;
        // Overwrite what an earlier use of the buffer left, then append;
        // within the reserved capacity, so the start never moves.
        let overlap = self.storage.len().saturating_sub(at).min(n);
        self.storage[at..at + overlap].copy_from_slice(&data[..overlap]);
        self.storage.extend_from_slice(&data[overlap..n]);
        self.len += n;
        n
    }

    /// The filled bytes.
    fn filled(&self) -> &[u8] {
        &self.storage[self.start..self.start + self.len]
    }

    /// The filled bytes, zero-padded to a multiple of `DIRECT_ALIGN`.
    fn padded(&mut self) -> &[u8] {
        let end = self.start + self.len.next_multiple_of(DIRECT_ALIGN);
        if self.storage.len() < end {
            self.storage.resize(end, 0);
        }
        self.storage[self.start + self.len..end].fill(0);
        &self.storage[self.start..end]
    }
}

/// The temp file as the blocking pool writes it.
struct Sink {
    /// Open for writing; with `O_DIRECT` when `direct`. Shared by the
    /// writes in flight, each at its own offset.
    file: Arc<File>,
    /// Its path, to reopen without `O_DIRECT` if the filesystem refuses it.
    path: Arc<Path>,
    /// Whether writes bypass the page cache.
    direct: bool,
    /// Where the next chunk goes.
    offset: u64,
}

impl Sink {
    /// Creates the temp file exclusively (mode 0600) and, if asked, reopens
    /// it for direct I/O; falls back to buffered writes where the filesystem
    /// has no direct I/O (tmpfs on older kernels, some FUSE filesystems).
    fn create(path: &Path, direct: bool) -> io::Result<Self> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        let mut sink = Sink {
            file: Arc::new(file),
            path: Arc::from(path),
            direct: false,
            offset: 0,
        };
        if direct
            && let Ok(direct_file) = OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_DIRECT)
                .open(path)
        {
            sink.file = Arc::new(direct_file);
            sink.direct = true;
        }
        Ok(sink)
    }

    /// What one write needs on the blocking pool, for `len` bytes at the
    /// current offset; moves the offset past them.
    fn claim(&mut self, len: usize) -> Target {
        let target = Target {
            file: Arc::clone(&self.file),
            path: Arc::clone(&self.path),
            direct: self.direct,
            offset: self.offset,
        };
        self.offset += len as u64;
        target
    }

    /// Continues buffered after a write found direct I/O refused.
    fn fell_back(&mut self, buffered: File) {
        if self.direct {
            self.file = Arc::new(buffered);
            self.direct = false;
        }
    }
}

/// Where one write goes: the file (shared), its offset, and whether it is
/// direct.
struct Target {
    file: Arc<File>,
    path: Arc<Path>,
    direct: bool,
    offset: u64,
}

impl Target {
    /// Writes `data` at the offset; in direct mode `data` must be aligned
    /// and a multiple of `DIRECT_ALIGN` long. If the filesystem opened the
    /// file for direct I/O but refuses direct writes, rewrites `data`
    /// through a buffered descriptor and returns it (`data` is then
    /// written whole, padding included).
    fn write(&self, data: &[u8]) -> io::Result<Option<File>> {
        match self.file.write_all_at(data, self.offset) {
            Ok(()) => Ok(None),
            Err(error) if self.direct && error.kind() == io::ErrorKind::InvalidInput => {
                let buffered = OpenOptions::new().write(true).open(&*self.path)?;
                buffered.write_all_at(data, self.offset)?;
                Ok(Some(buffered))
            }
            Err(error) => Err(error),
        }
    }

    /// Writes the last, partial chunk here and makes the file durable;
    /// every other write has finished. The buffer is freed once written,
    /// before the fsync, the longest step of a small upload: many
    /// concurrent uploads then hold their buffers only while their bytes
    /// arrive (issue 16 §6).
    fn finish(self, mut tail: AlignedBuf) -> io::Result<()> {
        let len = self.offset + tail.len as u64;
        // Direct writes are whole blocks: pad, then cut back.
        let data = if self.direct {
            tail.padded()
        } else {
            tail.filled()
        };
        let buffered = self.write(data)?;
        drop(tail);
        let file = buffered.as_ref().unwrap_or(&self.file);
        file.set_len(len)?;
        file.sync_all()
    }
}

/// A background write: gives back the emptied buffer and, if direct writes
/// were refused, the buffered descriptor to continue with.
type WriteTask = JoinHandle<io::Result<(AlignedBuf, Option<File>)>>;

/// An upload to a [`LocalFolder`].
///
/// Bytes are copied (or, by `write_with`, sealed) into an aligned chunk
/// buffer ([`FIRST_CHUNK_LEN`], doubling up to [`WRITE_CHUNK_LEN`]); each
/// full buffer is written on the blocking pool while the next one fills, up
/// to [`WRITES_IN_FLIGHT`] at once, so the caller's sealing and hashing
/// overlap the disk writes, the disk always has the next write queued, and
/// small pieces cost no round trip to the pool.
/// Writes use `O_DIRECT` where available: an ingested recording then goes to
/// disk at the disk's speed instead of faulting in page cache it will not
/// need, and does not push the database out of the cache.
struct LocalWriter {
    /// The object being written.
    id: ObjectId,
    /// Where commit links it.
    final_path: PathBuf,
    /// The temp file (`tmp/<uuid>.part`) and the next chunk's offset.
    sink: Sink,
    /// The buffer being filled.
    current: AlignedBuf,
    /// Buffers given back by finished writes, reused next.
    spare: Vec<AlignedBuf>,
    /// The writes running on the blocking pool, oldest first.
    in_flight: VecDeque<WriteTask>,
    /// A write failed: every later call refuses.
    failed: bool,
    /// Committed or aborted: `Drop` must leave the files alone.
    finished: bool,
}

impl LocalWriter {
    /// The error for a call after a write failed.
    fn failed_earlier(&self) -> Error {
        Error::Io {
            context: format!("upload {} failed earlier", self.sink.path.display()),
            source: io::Error::other("a write failed"),
        }
    }

    /// Waits for the oldest write in flight and takes back its buffer.
    async fn reap_one(&mut self) -> Result<()> {
        let Some(task) = self.in_flight.pop_front() else {
            return Ok(());
        };
        let written = match task.await {
            Ok(written) => written,
            Err(join) => Err(io::Error::other(join.to_string())),
        };
        match written {
            Ok((buffer, buffered)) => {
                self.spare.push(buffer);
                if let Some(buffered) = buffered {
                    self.sink.fell_back(buffered);
                }
                Ok(())
            }
            Err(source) => {
                self.failed = true;
                Err(Error::Io {
                    context: format!("failed to write {}", self.sink.path.display()),
                    source,
                })
            }
        }
    }

    /// Waits for every write in flight, all of them even after one fails
    /// (none may outlive the upload); the first failure is returned.
    async fn settle(&mut self) -> Result<()> {
        let mut first = Ok(());
        while !self.in_flight.is_empty() {
            let reaped = self.reap_one().await;
            if first.is_ok() {
                first = reaped;
            }
        }
        first
    }

    /// Starts writing the full buffer in the background, once fewer than
    /// [`WRITES_IN_FLIGHT`] are; what a `write_with` put beyond the chunk
    /// starts the next one.
    async fn flush(&mut self) -> Result<()> {
        if self.failed {
            return Err(self.failed_earlier());
        }
        while self.in_flight.len() >= WRITES_IN_FLIGHT {
            self.reap_one().await?;
        }
        // Chunks grow to full length; a spare too short for the next is freed.
        let chunk = (2 * self.current.chunk).min(WRITE_CHUNK_LEN);
        self.spare.retain(|spare| spare.chunk >= chunk);
        let next = self.spare.pop().unwrap_or_else(|| AlignedBuf::new(chunk));
        let mut full = std::mem::replace(&mut self.current, next);
        if let Some(excess) = full.filled().get(full.chunk..) {
            self.current.fill(excess);
            full.len = full.chunk;
        }
        let target = self.sink.claim(full.len);
        self.in_flight
            .push_back(tokio::task::spawn_blocking(move || {
                let buffered = target.write(full.filled())?;
                full.len = 0;
                Ok((full, buffered))
            }));
        Ok(())
    }
}

#[async_trait]
impl ObjectWriter for LocalWriter {
    async fn write(&mut self, bytes: Bytes) -> Result<()> {
        let mut data = &bytes[..];
        while !data.is_empty() {
            let n = self.current.fill(data);
            data = &data[n..];
            if self.current.is_full() {
                self.flush().await?;
            }
        }
        Ok(())
    }

    async fn write_with(&mut self, fill: &mut Fill<'_>) -> Result<()> {
        self.current.append_with(fill)?;
        if self.current.is_full() {
            self.flush().await?;
        }
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<()> {
        if self.failed {
            return Err(self.failed_earlier());
        }
        self.settle().await?;
        // Nothing more is written: the spares go now, not after the fsyncs.
        self.spare = Vec::new();
        let tail = std::mem::replace(&mut self.current, AlignedBuf::taken());
        let target = self.sink.claim(tail.len);
        let id = self.id;
        let temp_path = Arc::clone(&self.sink.path);
        let final_path = self.final_path.clone();
        blocking(move || {
            target
                .finish(tail)
                .io_context(|| format!("failed to write {}", temp_path.display()))?;
            commit_file(id, &temp_path, &final_path)
        })
        .await?;
        self.finished = true;
        Ok(())
    }

    async fn abort(mut self: Box<Self>) -> Result<()> {
        // Let running writes finish so none can outlive the upload.
        let _ = self.settle().await;
        self.finished = true;
        let temp_path = Arc::clone(&self.sink.path);
        blocking(move || match fs::remove_file(&temp_path) {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(Error::Io {
                context: format!("failed to remove upload {}", temp_path.display()),
                source: error,
            }),
        })
        .await
    }
}

/// Links the written and fsynced temp file into place without replacing,
/// unlinks the temp name, and fsyncs the directory the object now lives in.
///
/// The upload folder is not fsynced after the unlink (issue 16: it was one
/// of four directory fsyncs per upload, all of them on the one `tmp/`
/// folder every upload shares). Durability does not need it: the object
/// is durable under its final name once that folder is fsynced. A crash
/// may bring the temp name back — a second name of the same sealed file,
/// ciphertext only; `delete` (the purge) removes both names, and recovery
/// removes it with its object if that was never committed.
fn commit_file(id: ObjectId, temp_path: &Path, final_path: &Path) -> Result<()> {
    let final_dir = final_path.parent().unwrap_or(Path::new("."));
    if fs::symlink_metadata(final_dir).is_err() {
        // Someone removed a fan-out directory; recreate it durably.
        create_private_dir(final_dir)?;
        if let Some(root) = final_dir.parent() {
            fsync_dir(root)?;
        }
    }
    // A hard link, unlike rename, never replaces: objects are immutable.
    match fs::hard_link(temp_path, final_path) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
            return Err(Error::AlreadyExists(id));
        }
        Err(error) => {
            return Err(Error::Io {
                context: format!("failed to link {}", final_path.display()),
                source: error,
            });
        }
    }
    fs::remove_file(temp_path)
        .io_context(|| format!("failed to remove {}", temp_path.display()))?;
    Ok(fsync_dir(final_dir)?)
}

impl Drop for LocalWriter {
    fn drop(&mut self) {
        if !self.finished {
            // Best effort; a leftover is still found by `list` and swept.
            let _ = fs::remove_file(&self.sink.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder() -> (tempfile::TempDir, LocalFolder) {
        let dir = tempfile::tempdir().unwrap();
        let folder = LocalFolder::open(&dir.path().join("objects")).unwrap();
        (dir, folder)
    }

    async fn put_bytes(store: &dyn ObjectStore, id: &ObjectId, chunks: &[&[u8]]) {
        let mut writer = store.put(id).await.unwrap();
        for chunk in chunks {
            writer.write(Bytes::copy_from_slice(chunk)).await.unwrap();
        }
        writer.commit().await.unwrap();
    }

    fn temp_files(folder: &LocalFolder) -> usize {
        fs::read_dir(folder.temp_dir()).unwrap().count()
    }

    #[tokio::test]
    async fn a_committed_object_reads_back_by_range() {
        let (_dir, folder) = folder();
        let id = ObjectId::new_v7();
        let data: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();

        put_bytes(&folder, &id, &[&data[..3], &data[3..9000], &data[9000..]]).await;

        assert_eq!(folder.len(&id).await.unwrap(), 10_000);
        assert_eq!(folder.get_range(&id, 0..10_000).await.unwrap(), &data[..]);
        assert_eq!(
            folder.get_range(&id, 17..4099).await.unwrap(),
            &data[17..4099]
        );
        assert_eq!(
            folder.get_range(&id, 10_000..10_000).await.unwrap(),
            &b""[..]
        );
        assert_eq!(temp_files(&folder), 0);
        // The length and the first bytes at once; all of it when shorter.
        let (len, head) = folder.head(&id, 40).await.unwrap();
        assert_eq!((len, &head[..]), (10_000, &data[..40]));
        let (len, head) = folder.head(&id, 20_000).await.unwrap();
        assert_eq!((len, &head[..]), (10_000, &data[..]));
        // The length, the first bytes and a range at once; an empty range
        // reads nothing.
        let (len, head, range) = folder.head_and_range(&id, 12, 7000..9100).await.unwrap();
        assert_eq!(
            (len, &head[..], &range[..]),
            (10_000, &data[..12], &data[7000..9100])
        );
        let (len, head, range) = folder.head_and_range(&id, 12, 50..50).await.unwrap();
        assert_eq!(
            (len, &head[..], &range[..]),
            (10_000, &data[..12], &b""[..])
        );
    }

    #[tokio::test]
    async fn a_range_past_the_end_read_with_the_head_is_a_truncation_never_a_short_read() {
        let (_dir, folder) = folder();
        let id = ObjectId::new_v7();
        put_bytes(&folder, &id, &[&[7u8; 1000]]).await;

        let past = folder.head_and_range(&id, 12, 900..1001).await;
        let missing = folder.head_and_range(&ObjectId::new_v7(), 12, 0..10).await;

        assert!(
            matches!(
                past,
                Err(Error::Truncated {
                    wanted: 1001,
                    len: 1000,
                    ..
                })
            ),
            "{past:?}"
        );
        assert!(matches!(missing, Err(Error::NotFound(_))), "{missing:?}");
    }

    #[tokio::test]
    async fn a_large_object_spanning_many_write_chunks_is_intact() {
        let (_dir, folder) = folder();
        let id = ObjectId::new_v7();
        let data: Vec<u8> = (0..(3 * WRITE_CHUNK_LEN + 12345))
            .map(|i| (i % 253) as u8)
            .collect();
        let chunks: Vec<&[u8]> = data.chunks(65_552).collect();

        put_bytes(&folder, &id, &chunks).await;

        assert_eq!(
            folder.get_range(&id, 0..data.len() as u64).await.unwrap(),
            &data[..]
        );
    }

    #[tokio::test]
    async fn pieces_of_every_size_are_written_in_order() {
        let (_dir, folder) = folder();
        let id = ObjectId::new_v7();
        let data: Vec<u8> = (0..(2 * WRITE_CHUNK_LEN + 777))
            .map(|i| (i % 251) as u8)
            .collect();
        let sizes = [
            1,
            100,
            70_000,
            3,
            DIRECT_ALIGN - 1,
            DIRECT_ALIGN,
            5,
            1 << 20,
            0,
        ];
        let mut chunks: Vec<&[u8]> = Vec::new();
        let mut rest = &data[..];
        for size in sizes.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (head, tail) = rest.split_at((*size).min(rest.len()));
            chunks.push(head);
            rest = tail;
        }

        put_bytes(&folder, &id, &chunks).await;

        let stored = folder.get_range(&id, 0..data.len() as u64).await.unwrap();
        assert!(stored == data, "content differs");
    }

    #[tokio::test]
    async fn every_tail_length_is_stored_exactly_with_and_without_direct_io() {
        for direct in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let folder = LocalFolder::open(dir.path())
                .unwrap()
                .with_direct_io(direct);
            for len in [
                0,
                1,
                DIRECT_ALIGN - 1,
                DIRECT_ALIGN,
                DIRECT_ALIGN + 1,
                // The growing chunks' ends: 256 KiB, + 512 KiB, + 1 MiB.
                FIRST_CHUNK_LEN - 1,
                FIRST_CHUNK_LEN,
                FIRST_CHUNK_LEN + 1,
                3 * FIRST_CHUNK_LEN,
                7 * FIRST_CHUNK_LEN + 1,
                WRITE_CHUNK_LEN - 1,
                WRITE_CHUNK_LEN,
                WRITE_CHUNK_LEN + 1,
                2 * WRITE_CHUNK_LEN + 4097,
            ] {
                let id = ObjectId::new_v7();
                let data: Vec<u8> = (0..len).map(|i| (i % 239) as u8 + 1).collect();

                put_bytes(&folder, &id, &[&data]).await;

                assert_eq!(
                    folder.len(&id).await.unwrap(),
                    len as u64,
                    "direct {direct}"
                );
                let stored = folder.get_range(&id, 0..len as u64).await.unwrap();
                assert!(
                    stored == data,
                    "direct {direct}, len {len}: content differs"
                );
            }
        }
    }

    /// Writes `data` in pieces of the given sizes (cycled), two of every
    /// three by `write_with` and the third by `write`.
    async fn write_mixed(writer: &mut Box<dyn ObjectWriter>, data: &[u8], sizes: &[usize]) {
        let mut rest = data;
        for (n, size) in sizes.iter().cycle().enumerate() {
            if rest.is_empty() {
                break;
            }
            let (head, tail) = rest.split_at((*size).min(rest.len()));
            if n % 3 == 2 {
                writer.write(Bytes::copy_from_slice(head)).await.unwrap();
            } else {
                writer
                    .write_with(&mut |out| {
                        out.extend_from_slice(head);
                        Ok(())
                    })
                    .await
                    .unwrap();
            }
            rest = tail;
        }
    }

    #[tokio::test]
    async fn fills_in_place_and_copies_mix_across_chunk_ends_with_and_without_direct_io() {
        for direct in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let folder = LocalFolder::open(dir.path())
                .unwrap()
                .with_direct_io(direct);
            let id = ObjectId::new_v7();
            let data: Vec<u8> = (0..(3 * WRITE_CHUNK_LEN + 12_345))
                .map(|i| (i % 241) as u8)
                .collect();

            let mut writer = folder.put(&id).await.unwrap();
            write_mixed(
                &mut writer,
                &data,
                &[
                    FILL_ROOM,
                    1,
                    65_552,
                    0,
                    DIRECT_ALIGN - 1,
                    FILL_ROOM - 1,
                    70_000,
                ],
            )
            .await;
            writer.commit().await.unwrap();

            let stored = folder.get_range(&id, 0..data.len() as u64).await.unwrap();
            assert!(stored == data, "direct {direct}: content differs");
        }
    }

    #[tokio::test]
    async fn a_sealed_stream_written_in_place_opens_to_its_plaintext() {
        let (_dir, folder) = folder();
        let key = crate::keyring::DataKey::from_bytes([3; 32]);
        for (len, piece) in [
            (0, 1),
            (1, 1),
            (SEALED_SEGMENT_LEN, 65_536),
            (WRITE_CHUNK_LEN + 5, 400_000),
            (3 * WRITE_CHUNK_LEN + 70_000, 1 << 20),
        ] {
            let id = ObjectId::new_v7();
            let plaintext: Vec<u8> = (0..len).map(|i| (i % 247) as u8).collect();
            let mut sealer = StreamSealer::new(&key, &id).unwrap();
            let mut writer = folder.put(&id).await.unwrap();

            writer.seal_header(&sealer).await.unwrap();
            for chunk in plaintext.chunks(piece) {
                writer.seal(&mut sealer, chunk).await.unwrap();
            }
            writer.seal_last(sealer).await.unwrap();
            writer.commit().await.unwrap();

            let stored_len = crate::stream::sealed_len(len as u64);
            let stored = folder.get_range(&id, 0..stored_len).await.unwrap();
            let opened = crate::stream::open_to_vec(&key, &id, &stored).unwrap();
            assert!(opened == plaintext, "len {len}: plaintext differs");
        }
    }

    #[tokio::test]
    async fn a_fill_past_its_room_is_refused_and_leaves_nothing_behind() {
        let (_dir, folder) = folder();
        let id = ObjectId::new_v7();
        let data: Vec<u8> = (0..(WRITE_CHUNK_LEN + 100)).map(|i| i as u8).collect();
        let mut writer = folder.put(&id).await.unwrap();
        write_mixed(&mut writer, &data, &[FILL_ROOM]).await;

        let refused = writer
            .write_with(&mut |out| {
                out.extend_from_slice(&vec![0xAB; FILL_ROOM + 1]);
                Ok(())
            })
            .await;
        writer.commit().await.unwrap();

        assert!(
            matches!(refused, Err(Error::InvalidInput(_))),
            "{refused:?}"
        );
        let stored = folder.get_range(&id, 0..data.len() as u64).await.unwrap();
        assert!(stored == data, "content differs");
        assert_eq!(folder.len(&id).await.unwrap(), data.len() as u64);
    }

    #[test]
    fn aligned_buffers_are_aligned_and_pad_with_zeros() {
        let mut buffer = AlignedBuf::new(WRITE_CHUNK_LEN);
        assert_eq!(buffer.filled().as_ptr().addr() % DIRECT_ALIGN, 0);
        buffer.storage.fill(0xFF);

        assert_eq!(buffer.fill(&[7; 10]), 10);

        let padded = buffer.padded();
        assert_eq!(padded.len(), DIRECT_ALIGN);
        assert_eq!(&padded[..10], &[7; 10]);
        assert!(padded[10..].iter().all(|&b| b == 0));
        assert_eq!(
            buffer.fill(&vec![1; 2 * WRITE_CHUNK_LEN]),
            WRITE_CHUNK_LEN - 10
        );
        assert!(buffer.is_full());

        // Reused, as a spare buffer is: the old bytes are overwritten, the
        // start stays aligned.
        buffer.len = 0;
        assert_eq!(buffer.fill(&[3; 5]), 5);
        assert_eq!(buffer.filled(), &[3; 5]);
        assert_eq!(buffer.filled().as_ptr().addr() % DIRECT_ALIGN, 0);
        assert!(buffer.padded()[5..].iter().all(|&b| b == 0));
    }

    #[tokio::test]
    async fn objects_are_laid_out_by_the_last_hex_digits_of_their_id() {
        let (_dir, folder) = folder();
        let id = ObjectId::new_v7();

        put_bytes(&folder, &id, &[b"x"]).await;

        let name = id.to_string();
        let path = folder.root().join(&name[34..]).join(format!("{name}.kjr"));
        assert_eq!(fs::read(path).unwrap(), b"x");
    }

    #[tokio::test]
    async fn reading_past_the_end_reports_truncation() {
        let (_dir, folder) = folder();
        let id = ObjectId::new_v7();
        put_bytes(&folder, &id, &[b"0123456789"]).await;

        let error = folder.get_range(&id, 5..11).await.unwrap_err();

        assert!(
            matches!(
                error,
                Error::Truncated {
                    wanted: 11,
                    len: 10,
                    ..
                }
            ),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_missing_object_is_not_found() {
        let (_dir, folder) = folder();
        let id = ObjectId::new_v7();

        assert!(matches!(folder.len(&id).await, Err(Error::NotFound(_))));
        assert!(matches!(
            folder.get_range(&id, 0..1).await,
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            folder.head(&id, 40).await,
            Err(Error::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn delete_removes_the_object_and_is_idempotent() {
        let (_dir, folder) = folder();
        let id = ObjectId::new_v7();
        put_bytes(&folder, &id, &[b"abc"]).await;

        folder.delete(&id).await.unwrap();
        folder.delete(&id).await.unwrap();

        assert!(matches!(folder.len(&id).await, Err(Error::NotFound(_))));
        assert!(folder.list().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn list_shows_finished_objects_and_unfinished_uploads() {
        let (_dir, folder) = folder();
        let finished: Vec<ObjectId> = (0..5).map(|_| ObjectId::new_v7()).collect();
        for id in &finished {
            put_bytes(&folder, id, &[b"data"]).await;
        }
        let unfinished = ObjectId::new_v7();
        let mut writer = folder.put(&unfinished).await.unwrap();
        writer.write(Bytes::from_static(b"half")).await.unwrap();
        fs::write(folder.root().join("README"), "not an object").unwrap();

        let mut listed = folder.list().await.unwrap();

        let mut expected = finished.clone();
        expected.push(unfinished);
        expected.sort();
        listed.sort();
        assert_eq!(listed, expected);
        writer.abort().await.unwrap();
    }

    #[tokio::test]
    async fn delete_also_removes_an_unfinished_upload() {
        let (_dir, folder) = folder();
        let id = ObjectId::new_v7();
        let mut writer = folder.put(&id).await.unwrap();
        writer.write(Bytes::from_static(b"half")).await.unwrap();
        writer
            .write(Bytes::from(vec![0u8; WRITE_CHUNK_LEN]))
            .await
            .unwrap();

        folder.delete(&id).await.unwrap();

        assert_eq!(temp_files(&folder), 0);
        assert!(folder.list().await.unwrap().is_empty());
        // The orphaned writer can no longer commit it.
        assert!(writer.commit().await.is_err());
        assert!(folder.list().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn delete_many_removes_objects_and_uploads_and_answers_each_in_order() {
        let (_dir, folder) = folder();
        let stored = ObjectId::new_v7();
        put_bytes(&folder, &stored, &[b"kept until now"]).await;
        let uploading = ObjectId::new_v7();
        let mut writer = folder.put(&uploading).await.unwrap();
        writer.write(Bytes::from_static(b"half")).await.unwrap();
        let absent = ObjectId::new_v7();
        let other = ObjectId::new_v7();
        put_bytes(&folder, &other, &[b"not asked"]).await;

        let outcomes = folder.delete_many(&[stored, uploading, absent]).await;

        assert_eq!(outcomes.len(), 3);
        assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
        assert_eq!(temp_files(&folder), 0);
        assert_eq!(folder.list().await.unwrap(), vec![other]);
        // Again: deleting what is gone is not an error.
        let again = folder.delete_many(&[stored, uploading]).await;
        assert!(again.iter().all(Result::is_ok), "{again:?}");
        assert!(folder.delete_many(&[]).await.is_empty());
    }

    #[tokio::test]
    async fn abort_and_drop_leave_no_temp_file() {
        let (_dir, folder) = folder();
        let id = ObjectId::new_v7();
        let mut aborted = folder.put(&id).await.unwrap();
        aborted
            .write(Bytes::from(vec![1u8; WRITE_CHUNK_LEN + 1]))
            .await
            .unwrap();
        aborted.abort().await.unwrap();
        assert_eq!(temp_files(&folder), 0);

        let other = ObjectId::new_v7();
        let mut dropped = folder.put(&other).await.unwrap();
        dropped
            .write(Bytes::from(vec![1u8; WRITE_CHUNK_LEN + 1]))
            .await
            .unwrap();
        drop(dropped);

        assert_eq!(temp_files(&folder), 0);
        assert!(folder.list().await.unwrap().is_empty());
        assert!(matches!(folder.len(&id).await, Err(Error::NotFound(_))));
    }

    #[tokio::test]
    async fn an_existing_object_is_never_overwritten() {
        let (_dir, folder) = folder();
        let id = ObjectId::new_v7();
        put_bytes(&folder, &id, &[b"original"]).await;

        let refused = folder.put(&id).await;

        assert!(matches!(refused, Err(Error::AlreadyExists(_))));
        assert_eq!(folder.get_range(&id, 0..8).await.unwrap(), &b"original"[..]);
    }

    #[tokio::test]
    async fn of_two_concurrent_uploads_of_one_id_only_one_is_accepted() {
        let (_dir, folder) = folder();
        let id = ObjectId::new_v7();
        let mut first = folder.put(&id).await.unwrap();

        assert!(matches!(
            folder.put(&id).await,
            Err(Error::AlreadyExists(_))
        ));
        first.write(Bytes::from_static(b"first")).await.unwrap();
        first.commit().await.unwrap();
        assert_eq!(folder.get_range(&id, 0..5).await.unwrap(), &b"first"[..]);
    }

    #[tokio::test]
    async fn a_commit_racing_onto_an_existing_object_is_refused() {
        // The check in `put` can be raced; the link in `commit` cannot.
        let (_dir, folder) = folder();
        let id = ObjectId::new_v7();
        let mut late = folder.put(&id).await.unwrap();
        late.write(Bytes::from_static(b"late")).await.unwrap();
        fs::write(folder.object_path(&id), b"early").unwrap();

        let result = late.commit().await;

        assert!(matches!(result, Err(Error::AlreadyExists(_))), "{result:?}");
        assert_eq!(fs::read(folder.object_path(&id)).unwrap(), b"early");
        assert_eq!(temp_files(&folder), 0);
    }

    #[tokio::test]
    async fn an_empty_object_can_be_stored() {
        let (_dir, folder) = folder();
        let id = ObjectId::new_v7();

        put_bytes(&folder, &id, &[]).await;

        assert_eq!(folder.len(&id).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn files_are_private_to_the_owner() {
        use std::os::unix::fs::PermissionsExt;
        let (_dir, folder) = folder();
        let id = ObjectId::new_v7();
        put_bytes(&folder, &id, &[b"x"]).await;

        let file_mode = fs::metadata(folder.object_path(&id))
            .unwrap()
            .permissions()
            .mode();
        let dir_mode = fs::metadata(folder.root()).unwrap().permissions().mode();

        assert_eq!(file_mode & 0o077, 0);
        assert_eq!(dir_mode & 0o077, 0);
    }

    #[test]
    fn the_store_is_usable_as_a_trait_object() {
        let (_dir, folder) = folder();
        let store: std::sync::Arc<dyn ObjectStore> = std::sync::Arc::new(folder);
        assert!(format!("{store:?}").contains("LocalFolder"));
    }
}
