//! Planfiles at rest: a planfile holds every input of the plan, secrets included, so the store
//! keeps it sealed with an AEAD (ChaCha20-Poly1305, a random nonce per planfile). The
//! associated data binds it to its repository, pull request, project (dir, workspace and
//! name) and commit: a sealed planfile copied into another row does not open.
//!
//! Sealed form: `0x01 ‖ nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes)`.

use crate::ids::PrNumber;
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, anyhow, bail};
use base64::Engine as _;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

use crate::ids::{Dir, Workspace};

/// The key's length in bytes.
pub const KEY_LEN: usize = 32;
const VERSION: u8 = 1;
const TAG_LEN: usize = 16;

/// Where a planfile belongs; sealed into it as associated data.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    pub repository: &'a str,
    pub pr: PrNumber,
    pub dir: &'a Dir,
    pub workspace: &'a Workspace,
    /// The project's name; `None` for an unnamed project, whose binding is the same as
    /// before projects had names in it (its planfiles sealed then still open).
    pub project: Option<&'a str>,
    pub head_sha: &'a str,
}

impl Binding<'_> {
    /// Each field length-prefixed, so no two bindings share a byte string.
    fn bytes(&self) -> Vec<u8> {
        let pr = self.pr.to_string();
        let mut out = b"bosun planfile v1".to_vec();
        for field in [
            self.repository,
            &pr,
            self.dir.as_str(),
            self.workspace.as_str(),
            self.head_sha,
        ]
        .into_iter()
        .chain(self.project)
        {
            out.extend_from_slice(&(field.len() as u64).to_le_bytes());
            out.extend_from_slice(field.as_bytes());
        }
        out
    }
}

/// Seals and opens planfiles with one key. Cheap to clone.
#[derive(Clone)]
pub struct Sealer {
    key: Arc<LessSafeKey>,
    rng: SystemRandom,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer { key: [redacted] }")
    }
}

impl Sealer {
    /// A sealer with `key`.
    pub fn new(key: &[u8; KEY_LEN]) -> anyhow::Result<Self> {
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, key)
            .map_err(|_| anyhow!("the planfile key is not a ChaCha20-Poly1305 key"))?;
        Ok(Self {
            key: Arc::new(LessSafeKey::new(unbound)),
            rng: SystemRandom::new(),
        })
    }

    /// A sealer with a random key that lives as long as this process: for previews and tests,
    /// where planfiles need not survive a restart.
    pub fn ephemeral() -> anyhow::Result<Self> {
        Self::new(&random_key()?)
    }

    /// The sealer of the key in `path` (hex or base64). When the file does not exist it is
    /// created (mode 0600) with a new random key; the second value says so.
    pub fn from_key_file(path: &Path) -> anyhow::Result<(Self, bool)> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let key = decode_key(&text)
                    .map_err(|e| anyhow!("the planfile key in {}: {e}", path.display()))?;
                Ok((Self::new(&key)?, false))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = random_key()?;
                write_key_file(path, &key)?;
                Ok((Self::new(&key)?, true))
            }
            Err(e) => {
                Err(e).with_context(|| format!("reading the planfile key {}", path.display()))
            }
        }
    }

    /// `planfile` sealed for `binding`.
    pub fn seal(&self, planfile: &[u8], binding: &Binding<'_>) -> anyhow::Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| anyhow!("no randomness for a planfile nonce"))?;
        let mut body = planfile.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(binding.bytes()),
                &mut body,
            )
            .map_err(|_| anyhow!("sealing a planfile failed"))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + body.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// The planfile `sealed` holds, if it was sealed with this key for `binding`.
    pub fn open(&self, sealed: &[u8], binding: &Binding<'_>) -> anyhow::Result<Vec<u8>> {
        let Some((&VERSION, rest)) = sealed.split_first() else {
            bail!("not a sealed planfile");
        };
        if rest.len() < NONCE_LEN + TAG_LEN {
            bail!("sealed planfile is too short");
        }
        let (nonce, body) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| anyhow!("sealed planfile has a bad nonce"))?;
        let mut body = body.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(binding.bytes()), &mut body)
            .map_err(|_| {
                anyhow!("the planfile does not open: another key, another project, or damaged")
            })?;
        Ok(plain.to_vec())
    }
}

/// A key from its text: 64 hex digits or base64 of 32 bytes, surrounding space ignored.
pub fn decode_key(text: &str) -> Result<[u8; KEY_LEN], String> {
    let text = text.trim();
    let bytes = if text.len() == 2 * KEY_LEN && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(text).map_err(|_| "not valid hex".to_owned())?
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(text))
            .map_err(|_| format!("expected {KEY_LEN} bytes as 64 hex digits or base64"))?
    };
    <[u8; KEY_LEN]>::try_from(bytes.as_slice()).map_err(|_| {
        format!(
            "expected {KEY_LEN} bytes as 64 hex digits or base64, got {} bytes",
            bytes.len()
        )
    })
}

fn random_key() -> anyhow::Result<[u8; KEY_LEN]> {
    let mut key = [0u8; KEY_LEN];
    SystemRandom::new()
        .fill(&mut key)
        .map_err(|_| anyhow!("no randomness for a planfile key"))?;
    Ok(key)
}

fn write_key_file(path: &Path, key: &[u8; KEY_LEN]) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating the planfile key {}", path.display()))?;
    file.write_all(format!("{}\n", hex::encode(key)).as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing the planfile key {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dir or workspace that lives as long as the test.
    fn leak<T>(t: T) -> &'static T {
        Box::leak(Box::new(t))
    }

    fn binding(sha: &str) -> Binding<'_> {
        Binding {
            repository: "acme/infra",
            pr: PrNumber(7),
            dir: leak("envs/prod".into()),
            workspace: leak("default".into()),
            project: None,
            head_sha: sha,
        }
    }

    #[test]
    fn seals_and_opens_only_for_its_binding_and_key() {
        let sealer = Sealer::new(&[7; KEY_LEN]).unwrap();
        let sealed = sealer.seal(b"planfile bytes", &binding("a")).unwrap();
        assert!(!sealed.windows(8).any(|w| w == b"planfile"));
        assert_eq!(
            sealer.open(&sealed, &binding("a")).unwrap(),
            b"planfile bytes"
        );
        assert!(
            sealer.open(&sealed, &binding("b")).is_err(),
            "another commit"
        );
        assert!(
            Sealer::new(&[8; KEY_LEN])
                .unwrap()
                .open(&sealed, &binding("a"))
                .is_err()
        );
        let again = sealer.seal(b"planfile bytes", &binding("a")).unwrap();
        assert_ne!(sealed, again, "a fresh nonce each time");
        for bad in [&[][..], &[1][..], &[2; 40][..], &sealed[..sealed.len() - 1]] {
            assert!(sealer.open(bad, &binding("a")).is_err());
        }
    }

    #[test]
    fn bindings_are_unambiguous() {
        let a = Binding {
            dir: &"a".into(),
            workspace: &"bc".into(),
            ..binding("s")
        };
        let b = Binding {
            dir: &"ab".into(),
            workspace: &"c".into(),
            ..binding("s")
        };
        assert_ne!(a.bytes(), b.bytes());
    }

    #[test]
    fn a_named_projects_planfile_opens_only_under_its_name() {
        let sealer = Sealer::new(&[7; KEY_LEN]).unwrap();
        let named = |name| Binding {
            project: Some(name),
            ..binding("s")
        };
        let sealed = sealer.seal(b"plan", &named("staging")).unwrap();
        assert_eq!(sealer.open(&sealed, &named("staging")).unwrap(), b"plan");
        assert!(sealer.open(&sealed, &named("default")).is_err());
        assert!(sealer.open(&sealed, &binding("s")).is_err(), "unnamed");
        let unnamed = sealer.seal(b"plan", &binding("s")).unwrap();
        assert!(sealer.open(&unnamed, &named("")).is_err(), "named ''");
    }

    #[test]
    fn keys_read_as_hex_or_base64() {
        let key = [0xab; KEY_LEN];
        assert_eq!(decode_key(&format!(" {}\n", hex::encode(key))), Ok(key));
        let b64 = base64::engine::general_purpose::STANDARD.encode(key);
        assert_eq!(decode_key(&b64), Ok(key));
        assert!(decode_key("abcd").is_err());
        assert!(decode_key(&hex::encode([1u8; 31])).is_err());
    }

    #[test]
    fn a_missing_key_file_is_made_private_and_then_reused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/planfile.key");
        let (first, created) = Sealer::from_key_file(&path).unwrap();
        assert!(created);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let sealed = first.seal(b"x", &binding("a")).unwrap();
        let (second, created) = Sealer::from_key_file(&path).unwrap();
        assert!(!created);
        assert_eq!(second.open(&sealed, &binding("a")).unwrap(), b"x");
        std::fs::write(&path, "not a key").unwrap();
        let err = Sealer::from_key_file(&path).unwrap_err().to_string();
        assert!(err.contains("expected 32 bytes"), "{err}");
    }
}
