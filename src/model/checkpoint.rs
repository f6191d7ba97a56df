//! Checkpoint files: the same envelope discipline as model files (magic, version, schema hash,
//! length, CRC32, bincode body through [`super::codec`], atomic write), with their own magic so
//! that a checkpoint is never mistaken for a model or the reverse.
//!
//! Layout (little endian): `FVIGCKPT` (8 bytes), format version u32, feature-schema hash u64,
//! body length u64, CRC32 of the body u32, body.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{codec, ModelError, MAX_MODEL_BYTES};
use crate::features::schema_hash;

/// First bytes of every checkpoint file.
pub const CHECKPOINT_MAGIC: [u8; 8] = *b"FVIGCKPT";

/// Version of the checkpoint layout and body; bump when either changes.
pub const CHECKPOINT_FORMAT_VERSION: u32 = 5;

const HEADER: usize = 8 + 4 + 8 + 8 + 4;

fn bad(path: &Path, what: String) -> ModelError {
    ModelError::Checkpoint {
        path: path.to_path_buf(),
        what,
    }
}

/// Writes `value` to `path` atomically (temp file in the same folder, fsync, rename).
pub fn save_checkpoint<T: Serialize>(value: &T, path: &Path) -> Result<(), ModelError> {
    let body = codec::encode_value(value).map_err(|reason| ModelError::Encode {
        path: path.to_path_buf(),
        reason,
    })?;
    let mut bytes = Vec::with_capacity(HEADER + body.len());
    bytes.extend_from_slice(&CHECKPOINT_MAGIC);
    bytes.extend_from_slice(&CHECKPOINT_FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&schema_hash().to_le_bytes());
    bytes.extend_from_slice(&(body.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    bytes.extend_from_slice(&body);
    super::write_atomic(path, &bytes).map_err(|error| ModelError::Io {
        path: path.to_path_buf(),
        error,
    })
}

fn field<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut a = [0u8; N];
    if let Some(s) = bytes.get(at..at + N) {
        a.copy_from_slice(s);
    }
    a
}

/// Reads and checks a checkpoint written by [`save_checkpoint`].
pub fn load_checkpoint<T: DeserializeOwned>(path: &Path) -> Result<T, ModelError> {
    let io = |error| ModelError::Io {
        path: path.to_path_buf(),
        error,
    };
    let mut bytes = Vec::new();
    File::open(path)
        .map_err(io)?
        .take(MAX_MODEL_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.get(..8) != Some(&CHECKPOINT_MAGIC[..]) {
        return Err(bad(
            path,
            "is not a flowvigil checkpoint (wrong first bytes); pass the file written by `flowvigil score --checkpoint`, or delete it to start over".into(),
        ));
    }
    if bytes.len() < HEADER {
        return Err(bad(
            path,
            format!(
                "is truncated ({} bytes, header needs {HEADER}); delete it to start over",
                bytes.len()
            ),
        ));
    }
    let version = u32::from_le_bytes(field(&bytes, 8));
    if version != CHECKPOINT_FORMAT_VERSION {
        return Err(bad(path, format!("has format version {version}, this flowvigil reads {CHECKPOINT_FORMAT_VERSION}; delete it to start over")));
    }
    let hash = u64::from_le_bytes(field(&bytes, 12));
    if hash != schema_hash() {
        return Err(bad(path, format!("was written for feature schema hash {hash:016x}, this flowvigil computes {:016x}; delete it to start over", schema_hash())));
    }
    let len = u64::from_le_bytes(field(&bytes, 20));
    let body = bytes.get(HEADER..).unwrap_or(&[]);
    if body.len() as u64 != len {
        return Err(bad(
            path,
            format!(
                "has a {}-byte body, its header says {len}; it is damaged: delete it to start over",
                body.len()
            ),
        ));
    }
    let crc = u32::from_le_bytes(field(&bytes, 28));
    if crc32fast::hash(body) != crc {
        return Err(bad(
            path,
            "fails its checksum; it is damaged: delete it to start over".into(),
        ));
    }
    codec::decode_value(body).map_err(|reason| {
        bad(
            path,
            format!("cannot be decoded ({reason}); delete it to start over"),
        )
    })
}
