//! The only place bincode is used: the model body codec (bincode 2.0.1, serde, standard config,
//! with a decode size limit of [`super::MAX_MODEL_BYTES`]).

use super::Model;

/// The bincode configuration: standard (varint integers, little endian) and a size limit, so a
/// crafted length prefix cannot make the decoder allocate more than the limit.
fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<{ super::MAX_MODEL_BYTES as usize }>()
}

/// Encodes a model body.
pub fn encode(model: &Model) -> Result<Vec<u8>, String> {
    encode_value(model)
}

/// Decodes a model body; trailing bytes are an error.
pub fn decode(body: &[u8]) -> Result<Model, String> {
    decode_value(body)
}

/// Encodes any serde value (checkpoints use it too).
pub fn encode_value<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, String> {
    bincode::serde::encode_to_vec(value, config()).map_err(|e| e.to_string())
}

/// Decodes any serde value under the size limit; trailing bytes are an error.
pub fn decode_value<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    let (value, used): (T, usize) =
        bincode::serde::decode_from_slice(body, config()).map_err(|e| e.to_string())?;
    if used != body.len() {
        return Err(format!(
            "{} trailing bytes after the body",
            body.len() - used
        ));
    }
    Ok(value)
}
