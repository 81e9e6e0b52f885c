//! The snapshot file format, written and read as a stream (never whole in memory).
//!
//! ```text
//!  magic    8 bytes  "ICRSNAP\0"
//!  version  u32 BE   1
//!  hlen     u32 BE   then hlen bytes: prost SnapshotHeader (snapshot id, last log id,
//!                    membership, revision)
//!  frames   repeated: u32 BE length (1..=MAX_FRAME_BYTES) + prost SnapshotItem
//!  end      u32 BE   0
//!  count    u64 BE   number of frames
//!  digest   32 bytes SHA-256 of every byte before it
//! ```
//!
//! Indexes are not in the file: they are derived from the records on install. The change
//! feed is not either: a node that installs a snapshot starts its feed at the snapshot's
//! revision.

use std::io::{self, Read, Write};

use prost::Message;
use proto::record::{StoredCloud, StoredExchange};
use sha2::{Digest, Sha256};

use crate::codec::{LogIdRecord, StoredMembershipRecord};
use crate::error::{Result, StoreError};

/// First bytes of every snapshot file.
pub const MAGIC: &[u8; 8] = b"ICRSNAP\0";
/// The format version this code writes and reads.
pub const VERSION: u32 = 1;
/// Largest frame accepted (records are at most 16 KiB; this leaves room for growth).
pub const MAX_FRAME_BYTES: u32 = 1 << 20;

/// What a snapshot file covers.
#[derive(Clone, PartialEq, Message)]
pub struct SnapshotHeader {
    /// openraft's snapshot id.
    #[prost(string, tag = "1")]
    pub snapshot_id: String,
    #[prost(message, optional, tag = "2")]
    pub(crate) last_log_id: Option<LogIdRecord>,
    #[prost(message, optional, tag = "3")]
    pub(crate) membership: Option<StoredMembershipRecord>,
    /// The registry revision the snapshot was taken at.
    #[prost(uint64, tag = "4")]
    pub revision: u64,
}

/// One record in a snapshot.
#[derive(Clone, PartialEq, Message)]
pub struct SnapshotItem {
    /// The record.
    #[prost(oneof = "Item", tags = "1, 2")]
    pub item: Option<Item>,
}

/// The record kinds a snapshot holds.
#[derive(Clone, PartialEq, ::prost::Oneof)]
pub enum Item {
    /// An Exchange.
    #[prost(message, tag = "1")]
    Exchange(StoredExchange),
    /// A Cloud.
    #[prost(message, tag = "2")]
    Cloud(StoredCloud),
}

/// A writer that hashes what passes through it.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes a snapshot file frame by frame.
pub struct SnapshotWriter<W: Write> {
    out: Hashing<W>,
    count: u64,
    buf: Vec<u8>,
}

impl<W: Write> std::fmt::Debug for SnapshotWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotWriter").field("count", &self.count).finish_non_exhaustive()
    }
}

impl<W: Write> SnapshotWriter<W> {
    /// Start a file with `header`.
    pub fn new(inner: W, header: &SnapshotHeader) -> Result<Self> {
        let mut out = Hashing { inner, hash: Sha256::new() };
        out.write_all(MAGIC)?;
        out.write_all(&VERSION.to_be_bytes())?;
        let h = header.encode_to_vec();
        out.write_all(&frame_len(h.len())?.to_be_bytes())?;
        out.write_all(&h)?;
        Ok(SnapshotWriter { out, count: 0, buf: Vec::new() })
    }

    /// Append one record.
    pub fn write_item(&mut self, item: Item) -> Result<()> {
        self.buf.clear();
        SnapshotItem { item: Some(item) }
            .encode(&mut self.buf)
            .map_err(|e| StoreError::Snapshot(e.to_string()))?;
        self.out.write_all(&frame_len(self.buf.len())?.to_be_bytes())?;
        self.out.write_all(&self.buf)?;
        self.count += 1;
        Ok(())
    }

    /// Write the trailer and return the inner writer and the record count.
    pub fn finish(mut self) -> Result<(W, u64)> {
        self.out.write_all(&0u32.to_be_bytes())?;
        self.out.write_all(&self.count.to_be_bytes())?;
        let digest = self.out.hash.finalize_reset();
        self.out.inner.write_all(&digest)?;
        self.out.inner.flush()?;
        Ok((self.out.inner, self.count))
    }
}

fn frame_len(n: usize) -> Result<u32> {
    match u32::try_from(n) {
        Ok(len) if len <= MAX_FRAME_BYTES => Ok(len),
        _ => Err(StoreError::Snapshot(format!("frame of {n} bytes exceeds {MAX_FRAME_BYTES}"))),
    }
}

/// Reads a snapshot file frame by frame. The digest is checked when the last frame has been
/// read, so callers that must not act on a damaged file run [`verify`] first.
pub struct SnapshotReader<R: Read> {
    inner: R,
    hash: Sha256,
    header: SnapshotHeader,
    count: u64,
    done: bool,
}

impl<R: Read> std::fmt::Debug for SnapshotReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotReader").field("count", &self.count).finish_non_exhaustive()
    }
}

impl<R: Read> SnapshotReader<R> {
    /// Read and check the magic, version and header.
    pub fn new(inner: R) -> Result<Self> {
        let mut r = SnapshotReader {
            inner,
            hash: Sha256::new(),
            header: SnapshotHeader::default(),
            count: 0,
            done: false,
        };
        let mut magic = [0u8; 8];
        r.read_exact(&mut magic)?;
        if &magic != MAGIC {
            return Err(StoreError::Snapshot("not an icroot snapshot (bad magic)".into()));
        }
        let version = r.read_u32()?;
        if version != VERSION {
            return Err(StoreError::Snapshot(format!("format version {version}, this node reads {VERSION}")));
        }
        let len = r.read_u32()?;
        let bytes = r.read_frame(len)?;
        r.header =
            SnapshotHeader::decode(bytes.as_slice()).map_err(|e| StoreError::Snapshot(e.to_string()))?;
        Ok(r)
    }

    /// The file's header.
    pub fn header(&self) -> &SnapshotHeader {
        &self.header
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<()> {
        self.inner.read_exact(buf).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => StoreError::Snapshot("file is truncated".into()),
            _ => StoreError::Io(e),
        })?;
        self.hash.update(&*buf);
        Ok(())
    }

    fn read_u32(&mut self) -> Result<u32> {
        let mut b = [0u8; 4];
        self.read_exact(&mut b)?;
        Ok(u32::from_be_bytes(b))
    }

    fn read_frame(&mut self, len: u32) -> Result<Vec<u8>> {
        if len > MAX_FRAME_BYTES {
            return Err(StoreError::Snapshot(format!("frame of {len} bytes exceeds {MAX_FRAME_BYTES}")));
        }
        let mut buf = vec![0u8; len as usize];
        self.read_exact(&mut buf)?;
        Ok(buf)
    }

    /// The next record, or `None` after the trailer has been read and checked.
    pub fn next_item(&mut self) -> Result<Option<Item>> {
        if self.done {
            return Ok(None);
        }
        let len = self.read_u32()?;
        if len == 0 {
            self.finish()?;
            return Ok(None);
        }
        let bytes = self.read_frame(len)?;
        let item = SnapshotItem::decode(bytes.as_slice()).map_err(|e| StoreError::Snapshot(e.to_string()))?;
        self.count += 1;
        item.item.map(Some).ok_or_else(|| StoreError::Snapshot("empty item".into()))
    }

    fn finish(&mut self) -> Result<()> {
        let mut count = [0u8; 8];
        self.read_exact(&mut count)?;
        if u64::from_be_bytes(count) != self.count {
            return Err(StoreError::Snapshot("record count does not match the trailer".into()));
        }
        let expected: [u8; 32] = self.hash.finalize_reset().into();
        let mut digest = [0u8; 32];
        self.inner.read_exact(&mut digest).map_err(|_| StoreError::Snapshot("file is truncated".into()))?;
        if digest != expected {
            return Err(StoreError::Snapshot("checksum mismatch".into()));
        }
        let mut extra = [0u8; 1];
        if self.inner.read(&mut extra)? != 0 {
            return Err(StoreError::Snapshot("bytes after the checksum".into()));
        }
        self.done = true;
        Ok(())
    }
}

/// Read a whole snapshot, checking every frame and the checksum; the header and record count.
pub fn verify(inner: impl Read) -> Result<(SnapshotHeader, u64)> {
    let mut r = SnapshotReader::new(inner)?;
    while r.next_item()?.is_some() {}
    Ok((r.header, r.count))
}
