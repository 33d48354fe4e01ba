//! A release mirror on loopback with the release servers' layouts: HashiCorp's for Terraform
//! (`/terraform/index.json`, `/terraform/{v}/terraform_{v}_linux_{arch}.zip`, `_SHA256SUMS`,
//! `_SHA256SUMS.sig`) and OpenTofu's releases' (`/tofu/v{v}/tofu_{v}_…`, `.gpgsig`, and the
//! index `/tofu/api.json`), signed with a key made here. Each "version" is a shell script
//! that says its version for `version` (and `version -json`), notes each command it runs in
//! `ran-by-<program>-<version>` under a directory the test gives (a path the sandbox may
//! write), then runs the real test Terraform.

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use pgp::composed::{
    ArmorOptions, DetachedSignature, KeyType, SecretKeyParamsBuilder, SignedPublicKey,
    SignedSecretKey,
};
use pgp::crypto::hash::HashAlgorithm;
use pgp::ser::Serialize as _;
use pgp::types::Password;
use rand_chacha::rand_core::SeedableRng as _;
use sha2::Digest as _;

type Files = Arc<Mutex<HashMap<String, Vec<u8>>>>;

pub struct Mirror {
    /// The base URL (Terraform's `BOSUN_TERRAFORM_DOWNLOAD_URL`).
    pub url: String,
    files: Files,
    requests: Arc<Mutex<Vec<String>>>,
    key: SignedSecretKey,
    /// The public key, armored, in a file (`BOSUN_*_SIGNING_KEY_FILE`).
    pub key_file: PathBuf,
    /// Where the scripts note what they ran.
    pub notes: PathBuf,
    terraform_versions: Mutex<Vec<String>>,
    tofu_versions: Mutex<Vec<String>>,
    _dir: tempfile::TempDir,
}

/// A signing key made with the same OpenPGP implementation bosun verifies with (seeded: the
/// tests need no randomness, only a key that is not the pinned one).
pub fn test_key(seed: u64) -> SignedSecretKey {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    SecretKeyParamsBuilder::default()
        .key_type(KeyType::Ed25519Legacy)
        .can_certify(true)
        .can_sign(true)
        .primary_user_id("bosun test releases <releases@example.invalid>".into())
        .build()
        .unwrap()
        .generate(&mut rng)
        .unwrap()
}

/// A detached binary signature by `key` over `data`.
pub fn sign(key: &SignedSecretKey, data: &[u8]) -> Vec<u8> {
    let rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    DetachedSignature::sign_binary_data(
        rng,
        &key.primary_key,
        &Password::empty(),
        HashAlgorithm::Sha256,
        data,
    )
    .unwrap()
    .to_bytes()
    .unwrap()
}

fn arch() -> &'static str {
    if cfg!(target_arch = "aarch64") {
        "arm64"
    } else {
        "amd64"
    }
}

impl Mirror {
    /// A mirror whose scripts note what they run under `notes`.
    pub async fn start(notes: &Path) -> Self {
        let files: Files = Arc::default();
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let (served, seen) = (files.clone(), requests.clone());
        let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
            let (served, seen) = (served.clone(), seen.clone());
            async move {
                let path = uri.path().to_owned();
                seen.lock().unwrap().push(path.clone());
                match served.lock().unwrap().get(&path) {
                    Some(bytes) => (axum::http::StatusCode::OK, bytes.clone()),
                    None => (axum::http::StatusCode::NOT_FOUND, b"not found".to_vec()),
                }
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let listener = bosun::server::without_nagle(listener);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let dir = tempfile::tempdir().unwrap();
        let key = test_key(7);
        let public = SignedPublicKey::from(key.clone());
        let key_file = dir.path().join("release-key.asc");
        std::fs::write(
            &key_file,
            public.to_armored_string(ArmorOptions::default()).unwrap(),
        )
        .unwrap();
        Self {
            url: format!("http://{addr}"),
            files,
            requests,
            key,
            key_file,
            notes: notes.to_owned(),
            terraform_versions: Mutex::default(),
            tofu_versions: Mutex::default(),
            _dir: dir,
        }
    }

    /// OpenTofu's download base on this mirror (`BOSUN_OPENTOFU_DOWNLOAD_URL`).
    pub fn tofu_url(&self) -> String {
        format!("{}/tofu", self.url)
    }

    /// OpenTofu's version index on this mirror (`BOSUN_OPENTOFU_INDEX_URL`).
    pub fn tofu_index_url(&self) -> String {
        format!("{}/tofu/api.json", self.url)
    }

    /// The script of `program` `version`: its `version` output, a note, then the real one.
    fn script(&self, program: &str, version: &str) -> String {
        let real = std::fs::canonicalize(super::terraform_bin()).unwrap();
        let name = if program == "tofu" {
            "OpenTofu"
        } else {
            "Terraform"
        };
        format!(
            "#!/bin/sh\n\
             if [ \"$1\" = version ]; then\n\
             \x20 if [ \"$2\" = -json ]; then echo '{{\"terraform_version\":\"{version}\"}}'; else echo '{name} v{version}'; fi\n\
             \x20 exit 0\n\
             fi\n\
             echo \"$(basename \"$PWD\") $1\" >> {notes}/ran-by-{program}-{version}\n\
             exec {real} \"$@\"\n",
            notes = self.notes.display(),
            real = real.display(),
        )
    }

    /// The release files of `program` `version` at `dir` (a path prefix), signed.
    fn release(&self, dir: &str, program: &str, version: &str, signature_ext: &str) {
        let zip_name = format!("{program}_{version}_linux_{}.zip", arch());
        let zip = zip_of(program, self.script(program, version).as_bytes());
        let sums = format!(
            "{}  {program}_{version}_darwin_arm64.zip\n{}  {zip_name}\n",
            hex::encode(sha2::Sha256::digest(b"other")),
            hex::encode(sha2::Sha256::digest(&zip))
        );
        let sums_name = format!("{program}_{version}_SHA256SUMS");
        let signature = sign(&self.key, sums.as_bytes());
        let mut files = self.files.lock().unwrap();
        files.insert(format!("{dir}/{zip_name}"), zip);
        files.insert(format!("{dir}/{sums_name}.{signature_ext}"), signature);
        files.insert(format!("{dir}/{sums_name}"), sums.into_bytes());
    }

    /// Terraform `version`, in HashiCorp's layout, listed in the index.
    pub fn add_terraform(&self, version: &str) {
        self.release(
            &format!("/terraform/{version}"),
            "terraform",
            version,
            "sig",
        );
        let mut listed = self.terraform_versions.lock().unwrap();
        listed.push(version.to_owned());
        let versions: BTreeMap<&str, serde_json::Value> = listed
            .iter()
            .map(|v| {
                (
                    v.as_str(),
                    serde_json::json!({ "name": "terraform", "version": v }),
                )
            })
            .collect();
        let index = serde_json::json!({ "name": "terraform", "versions": versions });
        self.put("/terraform/index.json", index.to_string().into_bytes());
    }

    /// Terraform `version` no longer served: its files gone, its index entry too.
    pub fn withdraw_terraform(&self, version: &str) {
        let prefix = format!("/terraform/{version}/");
        self.files
            .lock()
            .unwrap()
            .retain(|path, _| !path.starts_with(&prefix));
        let mut listed = self.terraform_versions.lock().unwrap();
        listed.retain(|v| v != version);
        let versions: BTreeMap<&str, serde_json::Value> = listed
            .iter()
            .map(|v| {
                (
                    v.as_str(),
                    serde_json::json!({ "name": "terraform", "version": v }),
                )
            })
            .collect();
        let index = serde_json::json!({ "name": "terraform", "versions": versions });
        self.put("/terraform/index.json", index.to_string().into_bytes());
    }

    /// OpenTofu `version`, in its releases' layout, listed in the index.
    pub fn add_tofu(&self, version: &str) {
        self.release(&format!("/tofu/v{version}"), "tofu", version, "gpgsig");
        let mut listed = self.tofu_versions.lock().unwrap();
        listed.push(version.to_owned());
        let versions: Vec<serde_json::Value> = listed
            .iter()
            .rev()
            .map(|v| serde_json::json!({ "id": v, "files": [] }))
            .collect();
        self.put(
            "/tofu/api.json",
            serde_json::json!({ "versions": versions })
                .to_string()
                .into_bytes(),
        );
    }

    /// Serves `bytes` at `path` (replacing what was there).
    pub fn put(&self, path: &str, bytes: Vec<u8>) {
        self.files.lock().unwrap().insert(path.to_owned(), bytes);
    }

    /// The zip of Terraform `version` (its path and bytes).
    pub fn terraform_zip(&self, version: &str) -> (String, Vec<u8>) {
        let path = format!(
            "/terraform/{version}/terraform_{version}_linux_{}.zip",
            arch()
        );
        let bytes = self.files.lock().unwrap().get(&path).cloned().unwrap();
        (path, bytes)
    }

    /// The paths asked for so far.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    /// The commands the script of `program` `version` ran, as `<dir name> <command>` lines.
    pub fn ran_by(&self, program: &str, version: &str) -> Vec<String> {
        std::fs::read_to_string(self.notes.join(format!("ran-by-{program}-{version}")))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// A zip holding `name` (mode 0755) and a LICENSE beside it, as the releases do.
pub fn zip_of(name: &str, bytes: &[u8]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut w = zip::ZipWriter::new(&mut out);
    let opts = zip::write::SimpleFileOptions::default().unix_permissions(0o755);
    w.start_file("LICENSE.txt", opts).unwrap();
    w.write_all(b"a license\n").unwrap();
    w.start_file(name, opts).unwrap();
    w.write_all(bytes).unwrap();
    w.finish().unwrap();
    out.into_inner()
}
