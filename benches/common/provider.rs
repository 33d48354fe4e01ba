//! Terraform providers from a local mirror, for the benchmarks that use providers
//! (`benches/inits.rs`, `benches/plans/`, each including this file with `#[path]`): the
//! benchmarks' own minimal provider (`benches/provider/`, a separate crate) built once, and a
//! packed filesystem mirror serving an executable under several provider names, with the CLI
//! config that installs `example.com` providers from it only and the lock file a real
//! `terraform init` writes for them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};

/// The providers' namespace and version in the mirror.
const NAMESPACE: &str = "example.com/example";
const VERSION: &str = "1.0.0";
/// Longest the provider's build may take (a first build compiles tonic and its kin).
const BUILD_TIMEOUT: Duration = Duration::from_secs(900);
/// Longest the `terraform init` writing the lock file may take.
const INIT_TIMEOUT: Duration = Duration::from_secs(120);

/// Builds the benchmarks' provider (`benches/provider/`) in release into
/// `target/bench-provider`, bounded in time, and returns its executable's path.
pub fn build() -> anyhow::Result<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = root.join("target/bench-provider");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut child = std::process::Command::new(cargo)
        .args(["build", "--release", "--quiet", "--manifest-path"])
        .arg(root.join("benches/provider/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .stdin(std::process::Stdio::null())
        .spawn()
        .context("starting cargo to build the benchmarks' provider")?;
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().context("waiting for cargo")? {
            break status;
        }
        if started.elapsed() > BUILD_TIMEOUT {
            // Best effort: the build is abandoned either way.
            let _ = child.kill();
            let _ = child.wait();
            bail!("building the benchmarks' provider took over {BUILD_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    if !status.success() {
        bail!("building the benchmarks' provider failed ({status}); see cargo's output above");
    }
    let bin = target.join("release/bosun-bench-provider");
    anyhow::ensure!(bin.is_file(), "no provider at {}", bin.display());
    Ok(bin)
}

/// A packed filesystem mirror under a directory, and the CLI config that uses it.
pub struct Mirror {
    /// The mirror's root (`example.com/example/NAME/terraform-provider-NAME_1.0.0_OS_ARCH.zip`).
    pub dir: PathBuf,
    /// A CLI config installing `example.com` providers from the mirror only.
    pub cli_config: PathBuf,
}

impl Mirror {
    /// Packs `executable` (its bytes) as provider `example.com/example/NAME` 1.0.0 for each of
    /// `names` into `<dir>/mirror`, and writes `<dir>/cli.tfrc`.
    pub fn pack(dir: &Path, executable: &[u8], names: &[&str]) -> anyhow::Result<Self> {
        let mirror = dir.join("mirror");
        let platform = platform();
        for name in names {
            let at = mirror.join(format!("{NAMESPACE}/{name}"));
            std::fs::create_dir_all(&at).with_context(|| format!("creating {}", at.display()))?;
            let mut out = std::io::Cursor::new(Vec::new());
            let mut zip = zip::ZipWriter::new(&mut out);
            let opts = zip::write::SimpleFileOptions::default().unix_permissions(0o755);
            zip.start_file(format!("terraform-provider-{name}_v{VERSION}"), opts)?;
            std::io::Write::write_all(&mut zip, executable)?;
            zip.finish()?;
            let file = at.join(format!(
                "terraform-provider-{name}_{VERSION}_{platform}.zip"
            ));
            std::fs::write(&file, out.into_inner())
                .with_context(|| format!("writing {}", file.display()))?;
        }
        let cli_config = dir.join("cli.tfrc");
        std::fs::write(
            &cli_config,
            format!(
                "provider_installation {{\n  filesystem_mirror {{\n    path    = \"{}\"\n    include = [\"example.com/*/*\"]\n  }}\n  direct {{\n    exclude = [\"example.com/*/*\"]\n  }}\n}}\n",
                mirror.display()
            ),
        )
        .context("writing the CLI config")?;
        Ok(Self {
            dir: mirror,
            cli_config,
        })
    }

    /// The `.terraform.lock.hcl` a real `terraform init` writes for a module requiring
    /// `names` (run once, in a scratch directory, with no plugin cache).
    pub async fn lock_file(&self, terraform: &Path, names: &[&str]) -> anyhow::Result<String> {
        let scratch = tempfile::tempdir().context("a scratch directory")?;
        std::fs::write(scratch.path().join("main.tf"), required_providers(names))?;
        let out = tokio::process::Command::new(terraform)
            .args(["init", "-input=false", "-no-color"])
            .current_dir(scratch.path())
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("TF_CLI_CONFIG_FILE", &self.cli_config)
            .env("TF_IN_AUTOMATION", "1")
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(INIT_TIMEOUT, out)
            .await
            .context("terraform init for the lock file timed out")?
            .context("running terraform init for the lock file")?;
        if !out.status.success() {
            bail!(
                "terraform init for the lock file failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::fs::read_to_string(scratch.path().join(".terraform.lock.hcl"))
            .context("reading the lock file init wrote")
    }
}

/// A `terraform` block requiring providers `names` from the mirror (version 1.0.0).
pub fn required_providers(names: &[&str]) -> String {
    let mut tf = String::from("terraform {\n  required_providers {\n");
    for name in names {
        tf.push_str(&format!(
            "    {name} = {{\n      source  = \"{NAMESPACE}/{name}\"\n      version = \"{VERSION}\"\n    }}\n"
        ));
    }
    tf.push_str("  }\n}\n");
    tf
}

/// Terraform's name for this machine's platform (`linux_amd64`).
fn platform() -> String {
    let arch = match std::env::consts::ARCH {
        "aarch64" => "arm64",
        "x86" => "386",
        _ => "amd64",
    };
    format!("{}_{arch}", std::env::consts::OS)
}
