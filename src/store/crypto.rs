//! Encryption of personal data at rest and the keyed hash that indexes phone numbers.
//!
//! One 32-byte master key, from `AICALL_PII_KEY` (64 hex digits) or a key file created with
//! fresh random bytes on first use (mode 0600). Two independent keys are derived from it with
//! BLAKE3's key derivation: one for ChaCha20-Poly1305 (random 96-bit nonce per record, stored
//! in front of the ciphertext), one for the keyed BLAKE3 hash of E.164 numbers. Lookups by
//! number hash the number; nothing in the database holds it in clear.

use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use serde::{Deserialize, Serialize};

const NONCE_LEN: usize = 12;

/// Errors loading or creating the key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("AICALL_PII_KEY must be 64 hex digits (32 bytes); got {len} characters")]
    EnvFormat { len: usize },
    #[error("key file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("key file {path} must hold 32 bytes (or 64 hex digits); it holds {len} bytes")]
    FileFormat { path: PathBuf, len: usize },
}

/// Keyed hash of an E.164 number: the index key for lists, history and duplicates.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PhoneKey(pub [u8; 32]);

impl std::fmt::Debug for PhoneKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A prefix is enough to tell keys apart in logs and cannot be reversed.
        write!(
            f,
            "PhoneKey({:02x}{:02x}{:02x}{:02x}…)",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

/// The cipher for personal data and the number hash.
#[derive(Clone)]
pub struct PiiCipher {
    aead: ChaCha20Poly1305,
    hash_key: [u8; 32],
}

impl std::fmt::Debug for PiiCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PiiCipher(..)")
    }
}

fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    let s = s.trim();
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

impl PiiCipher {
    /// A cipher from a master key.
    pub fn new(master: [u8; 32]) -> Self {
        let enc = blake3::derive_key("aicall 2026 pii encryption", &master);
        let hash_key = blake3::derive_key("aicall 2026 phone number index", &master);
        Self {
            aead: ChaCha20Poly1305::new(&Key::from(enc)),
            hash_key,
        }
    }

    /// The key from `AICALL_PII_KEY` if set, else from `key_file`, created if missing.
    pub fn load(key_file: &Path) -> Result<Self, KeyError> {
        if let Ok(hex) = std::env::var("AICALL_PII_KEY") {
            let key = parse_hex32(&hex).ok_or(KeyError::EnvFormat { len: hex.len() })?;
            return Ok(Self::new(key));
        }
        let io = |source| KeyError::Io {
            path: key_file.to_owned(),
            source,
        };
        match std::fs::read(key_file) {
            Ok(bytes) => {
                let key = if bytes.len() == 32 {
                    let mut k = [0u8; 32];
                    k.copy_from_slice(&bytes);
                    Some(k)
                } else {
                    std::str::from_utf8(&bytes).ok().and_then(parse_hex32)
                };
                key.map(Self::new).ok_or(KeyError::FileFormat {
                    path: key_file.to_owned(),
                    len: bytes.len(),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = key_file.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(io)?;
                }
                let key: [u8; 32] = rand::random();
                write_private(key_file, &key).map_err(io)?;
                Ok(Self::new(key))
            }
            Err(e) => Err(io(e)),
        }
    }

    /// Keyed hash of an E.164 number.
    pub fn phone_key(&self, e164: &str) -> PhoneKey {
        PhoneKey(*blake3::keyed_hash(&self.hash_key, e164.as_bytes()).as_bytes())
    }

    /// `nonce || ciphertext+tag`.
    pub fn seal(&self, plain: &[u8]) -> Vec<u8> {
        let nonce_bytes: [u8; NONCE_LEN] = rand::random();
        let nonce = Nonce::from(nonce_bytes);
        let mut out = Vec::with_capacity(NONCE_LEN + plain.len() + 16);
        out.extend_from_slice(&nonce_bytes);
        // Encryption into a Vec cannot fail: the only error is a buffer too small, and the
        // plaintexts here are far below ChaCha20's 256 GiB limit.
        let sealed = self
            .aead
            .encrypt(&nonce, plain)
            .expect("in-memory encryption of a small record");
        out.extend_from_slice(&sealed);
        out
    }

    /// Decrypts what [`PiiCipher::seal`] produced; `None` if the key is wrong or the data
    /// was altered.
    pub fn open(&self, sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE_LEN + 16 {
            return None;
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let mut n = [0u8; NONCE_LEN];
        n.copy_from_slice(nonce);
        self.aead.decrypt(&Nonce::from(n), body).ok()
    }
}

#[cfg(unix)]
fn write_private(path: &Path, key: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(key)?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, key: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_tamper_detection() {
        let c = PiiCipher::new([7u8; 32]);
        let sealed = c.seal(b"+8613800138000");
        assert!(!sealed.windows(5).any(|w| w == b"13800"));
        assert_eq!(c.open(&sealed).as_deref(), Some(&b"+8613800138000"[..]));
        let mut bad = sealed.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(c.open(&bad), None);
        assert_eq!(PiiCipher::new([8u8; 32]).open(&sealed), None);
        assert_eq!(c.open(b"short"), None);
    }

    #[test]
    fn phone_key_is_keyed_and_stable() {
        let a = PiiCipher::new([1u8; 32]);
        let b = PiiCipher::new([2u8; 32]);
        assert_eq!(a.phone_key("+8613800138000"), a.phone_key("+8613800138000"));
        assert_ne!(a.phone_key("+8613800138000"), b.phone_key("+8613800138000"));
    }

    #[test]
    fn key_file_is_created_once_and_reused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("keys/pii.key");
        let first = PiiCipher::load(&path).expect("created");
        let sealed = first.seal(b"x");
        let again = PiiCipher::load(&path).expect("reloaded");
        assert_eq!(again.open(&sealed).as_deref(), Some(&b"x"[..]));
        std::fs::write(&path, b"too short").expect("overwrite");
        assert!(matches!(
            PiiCipher::load(&path),
            Err(KeyError::FileFormat { len: 9, .. })
        ));
    }
}
