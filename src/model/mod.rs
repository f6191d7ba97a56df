//! The trained model and its file format.
//!
//! A [`Model`] is a read-only [`Scorer`] shared by every scoring thread plus one [`EniState`] per
//! ENI (keyed by interface-id name), so the engine can shard ENIs across workers.
//!
//! # File format (`.fvm`)
//!
//! ```text
//! offset size  field
//!      0    8  magic "FVIGMODL"
//!      8    4  format version (u32 LE), currently FORMAT_VERSION
//!     12    4  feature schema version (u32 LE)
//!     16    8  feature schema hash (u64 LE), crate::features::schema_hash()
//!     24    8  body length in bytes (u64 LE)
//!     32    4  CRC32 (IEEE) of the body (u32 LE)
//!     36    4  reserved, zero
//!     40    …  body: bincode 2.0.1 (serde, standard config) of Model
//! ```
//!
//! Writes are atomic (temp file in the same folder, fsync, rename, fsync of the folder). Reads
//! check, in order: size (at most [`MAX_MODEL_BYTES`]), magic, version, schema, length, checksum,
//! then decode with the same size limit, so a hostile file cannot make the loader allocate more.
//! Every failure names the file, what was found and expected, and what to do.

pub mod checkpoint;
pub mod codec;

pub use checkpoint::{load_checkpoint, save_checkpoint};

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::detect::{EniState, Scorer, TrainParams};
use crate::features::{schema_hash, SCHEMA_VERSION};

/// First bytes of every model file.
pub const MAGIC: [u8; 8] = *b"FVIGMODL";

/// Version of the file layout and body; bump when either changes.
pub const FORMAT_VERSION: u32 = 4;

/// Header length in bytes.
pub const HEADER_LEN: usize = 40;

/// Largest model file accepted (and largest body decoded): 1 GiB, room for ~1 M ENIs.
pub const MAX_MODEL_BYTES: u64 = 1 << 30;

/// What the model was trained on and how.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    /// `flowvigil <version>` that trained it.
    pub created_by: String,
    /// Earliest training window start, Unix seconds.
    pub first_window: u64,
    /// Latest training window start, Unix seconds.
    pub last_window: u64,
    /// Training windows.
    pub windows: u64,
    /// Training windows left out of calibration because a High-severity finding fired on them.
    pub calibration_excluded: u64,
    /// ENIs at the end of training.
    pub enis: u64,
    /// The parameters it was trained with.
    pub params: TrainParams,
}

/// A trained model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// Training span, counts, creator.
    pub meta: ModelMeta,
    /// Read-only scoring parts.
    pub scorer: Scorer,
    /// Per-ENI state, keyed by interface-id name.
    pub enis: BTreeMap<String, EniState>,
    /// The windowing the model was trained with; scoring uses the same.
    pub windowing: crate::window::WindowConfig,
    /// Per-ENI feature history (ports and peers seen before) at the end of training, keyed by
    /// interface-id name, so that scoring does not see every port as new.
    pub histories: BTreeMap<String, crate::features::EniHistory>,
}

/// Errors of reading and writing model files. Each says which file, what is wrong and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A checkpoint file is not usable.
    #[error("checkpoint {path} {what}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What is wrong and what to do.
        what: String,
    },
    /// The OS refused.
    #[error("model file {path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause (in the message, not chained, so it prints once).
        error: std::io::Error,
    },
    /// Shorter than its header or its declared body.
    #[error("model file {path} is truncated: {found} bytes, expected {expected}; the copy is incomplete: copy it again or retrain with `flowvigil train LOGS... --out {path}`")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Bytes present.
        found: u64,
        /// Bytes needed.
        expected: u64,
    },
    /// Larger than [`MAX_MODEL_BYTES`] (or longer than its declared body).
    #[error("model file {path} is {found} bytes, expected at most {expected}; it is not a flowvigil model or is damaged: retrain with `flowvigil train LOGS... --out {path}`")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Bytes present.
        found: u64,
        /// Largest accepted.
        expected: u64,
    },
    /// Does not start with [`MAGIC`].
    #[error("{path} is not a flowvigil model: first bytes {found:02x?}, expected {expected:02x?} (\"FVIGMODL\"); pass a .fvm file made by `flowvigil train`")]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// Bytes found.
        found: Vec<u8>,
        /// [`MAGIC`].
        expected: [u8; 8],
    },
    /// Another file format version.
    #[error("model file {path} has format version {found}, this flowvigil reads version {expected}: retrain with `flowvigil train LOGS... --out {path}`")]
    Version {
        /// The file.
        path: PathBuf,
        /// Version found.
        found: u32,
        /// [`FORMAT_VERSION`].
        expected: u32,
    },
    /// Trained on another feature schema.
    #[error("model file {path} was trained on feature schema v{found_version} (hash {found_hash:016x}), this flowvigil computes v{expected_version} (hash {expected_hash:016x}): retrain with `flowvigil train LOGS... --out {path}`")]
    Schema {
        /// The file.
        path: PathBuf,
        /// Schema version found.
        found_version: u32,
        /// Schema hash found.
        found_hash: u64,
        /// [`SCHEMA_VERSION`].
        expected_version: u32,
        /// [`schema_hash()`].
        expected_hash: u64,
    },
    /// The body does not match its checksum.
    #[error("model file {path} is corrupted: body checksum {found:08x}, header says {expected:08x}; copy it again or retrain with `flowvigil train LOGS... --out {path}`")]
    Checksum {
        /// The file.
        path: PathBuf,
        /// CRC32 computed.
        found: u32,
        /// CRC32 in the header.
        expected: u32,
    },
    /// The body passed the checksum but does not decode (a bug or a crafted file).
    #[error("model file {path}: body does not decode ({reason}); retrain with `flowvigil train LOGS... --out {path}`")]
    Decode {
        /// The file.
        path: PathBuf,
        /// The decoder's message.
        reason: String,
    },
    /// The model could not be encoded.
    #[error("cannot encode model for {path}: {reason}")]
    Encode {
        /// The file.
        path: PathBuf,
        /// The encoder's message.
        reason: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ModelError + '_ {
    move |error| ModelError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// The header and body of a model, as bytes.
pub fn to_bytes(model: &Model, path: &Path) -> Result<Vec<u8>, ModelError> {
    let body = codec::encode(model).map_err(|reason| ModelError::Encode {
        path: path.to_path_buf(),
        reason,
    })?;
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&SCHEMA_VERSION.to_le_bytes());
    out.extend_from_slice(&schema_hash().to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    out.extend_from_slice(&[0u8; 4]);
    out.extend_from_slice(&body);
    Ok(out)
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        a.copy_from_slice(s);
    }
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        a.copy_from_slice(s);
    }
    u64::from_le_bytes(a)
}

/// Parses a whole model file's bytes; `path` only names the file in errors.
pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Model, ModelError> {
    let p = || path.to_path_buf();
    let len = bytes.len() as u64;
    if len > MAX_MODEL_BYTES {
        return Err(ModelError::TooLarge {
            path: p(),
            found: len,
            expected: MAX_MODEL_BYTES,
        });
    }
    let magic = bytes.get(..MAGIC.len()).unwrap_or(bytes);
    if magic != MAGIC {
        // A short prefix of the magic is a truncated model, anything else is not a model.
        if magic.len() < MAGIC.len() && MAGIC.starts_with(magic) {
            return Err(ModelError::Truncated {
                path: p(),
                found: len,
                expected: HEADER_LEN as u64,
            });
        }
        return Err(ModelError::BadMagic {
            path: p(),
            found: magic.to_vec(),
            expected: MAGIC,
        });
    }
    let Some(header) = bytes.get(..HEADER_LEN) else {
        return Err(ModelError::Truncated {
            path: p(),
            found: len,
            expected: HEADER_LEN as u64,
        });
    };
    let version = le_u32(header, 8);
    if version != FORMAT_VERSION {
        return Err(ModelError::Version {
            path: p(),
            found: version,
            expected: FORMAT_VERSION,
        });
    }
    let (sv, sh) = (le_u32(header, 12), le_u64(header, 16));
    if sv != SCHEMA_VERSION || sh != schema_hash() {
        return Err(ModelError::Schema {
            path: p(),
            found_version: sv,
            found_hash: sh,
            expected_version: SCHEMA_VERSION,
            expected_hash: schema_hash(),
        });
    }
    let body_len = le_u64(header, 24);
    let expected = (HEADER_LEN as u64).saturating_add(body_len);
    if len < expected {
        return Err(ModelError::Truncated {
            path: p(),
            found: len,
            expected,
        });
    }
    if len > expected {
        return Err(ModelError::TooLarge {
            path: p(),
            found: len,
            expected,
        });
    }
    let body = bytes.get(HEADER_LEN..).unwrap_or(&[]);
    let crc = crc32fast::hash(body);
    let want = le_u32(header, 32);
    if crc != want {
        return Err(ModelError::Checksum {
            path: p(),
            found: crc,
            expected: want,
        });
    }
    codec::decode(body).map_err(|reason| ModelError::Decode { path: p(), reason })
}

/// Writes `model` to `path` atomically: a temp file in the same folder, fsync, rename, fsync of
/// the folder. A crash leaves either the old file or the new one, never half of one.
pub fn save(model: &Model, path: &Path) -> Result<(), ModelError> {
    let bytes = to_bytes(model, path)?;
    write_atomic(path, &bytes).map_err(io_err(path))
}

/// Writes `bytes` to `path` atomically: a temp file in the same folder, fsync, rename, fsync of
/// the folder (best effort: not every platform can open a folder). Model files and checkpoints
/// both go through it.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    };
    write().inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

/// Reads and checks a model file (see the module docs for the checks).
pub fn load(path: &Path) -> Result<Model, ModelError> {
    let f = File::open(path).map_err(io_err(path))?;
    let len = f.metadata().map_err(io_err(path))?.len();
    if len > MAX_MODEL_BYTES {
        return Err(ModelError::TooLarge {
            path: path.to_path_buf(),
            found: len,
            expected: MAX_MODEL_BYTES,
        });
    }
    let mut bytes = Vec::with_capacity(len as usize);
    // `take` guards against a file that grows while being read.
    f.take(MAX_MODEL_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err(path))?;
    from_bytes(&bytes, path)
}
