//! The `sandbox*` settings: whether and how every Terraform command runs under bubblewrap.

use std::path::{Path, PathBuf};

use super::{SettingsError, Sources};
use crate::terraform::sandbox::{BwrapConfig, Limits};

/// How Terraform commands run (BOSUN_SANDBOX).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sandbox {
    /// Under bubblewrap, as configured.
    Bwrap(BwrapConfig),
    /// Directly on the host: chosen knowingly, warned about at start.
    None,
}

impl Sandbox {
    /// The sandbox settings alone (for `bosun preview`, which reads no other setting);
    /// `data_dir` is hidden from every sandboxed command.
    pub fn from_sources(sources: &Sources, data_dir: &Path) -> Result<Self, SettingsError> {
        resolve(sources, data_dir)
    }
}

/// Resolves the sandbox settings; `data_dir` is hidden from every sandboxed command.
pub(super) fn resolve(sources: &Sources, data_dir: &Path) -> Result<Sandbox, SettingsError> {
    match sources.get_or_default("sandbox").trim() {
        "bwrap" => {}
        "none" => return Ok(Sandbox::None),
        other => {
            return Err(SettingsError::of(
                "sandbox",
                format!("`{other}` is not bwrap or none"),
            ));
        }
    }
    let bwrap = sources.get_or_default("sandbox_bwrap").trim();
    if bwrap.is_empty() {
        return Err(SettingsError::of("sandbox_bwrap", "must not be empty"));
    }
    let (uid, gid) = uid_gid(sources.get_or_default("sandbox_uid"))?;
    let max_processes = sources.parsed("sandbox_max_processes", "a number")?;
    let limits = Limits {
        memory: bytes(sources, "sandbox_memory")?,
        cpu_time: sources.duration("sandbox_cpu_time")?,
        max_processes,
        max_file_size: bytes(sources, "sandbox_max_file_size")?,
    };
    let paths = |key: &str| -> Result<Vec<PathBuf>, SettingsError> {
        sources
            .list(key)
            .into_iter()
            .map(|p| {
                let path = PathBuf::from(&p);
                if path.is_absolute() {
                    Ok(path)
                } else {
                    Err(SettingsError::of(
                        key,
                        format!("`{p}` is not an absolute path"),
                    ))
                }
            })
            .collect()
    };
    let hidden = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_owned());
    Ok(Sandbox::Bwrap(BwrapConfig {
        bwrap: PathBuf::from(bwrap),
        network: sources.parsed("sandbox_network", "true or false")?,
        writable_paths: paths("sandbox_writable_paths")?,
        readable_paths: paths("sandbox_readable_paths")?,
        hidden: vec![hidden],
        limits,
        uid,
        gid,
    }))
}

/// `UID` or `UID:GID` (the group defaults to the uid's number).
fn uid_gid(raw: &str) -> Result<(u32, u32), SettingsError> {
    let raw = raw.trim();
    let bad = || {
        SettingsError::of(
            "sandbox_uid",
            format!("`{raw}` is not a user id or uid:gid (numbers, not 0)"),
        )
    };
    let (uid, gid) = match raw.split_once(':') {
        Some((u, g)) => (u, g),
        None => (raw, raw),
    };
    let uid: u32 = uid.trim().parse().map_err(|_| bad())?;
    let gid: u32 = gid.trim().parse().map_err(|_| bad())?;
    // Root in the sandbox would undo it: the process limit does not hold for root.
    if uid == 0 || gid == 0 {
        return Err(bad());
    }
    Ok((uid, gid))
}

/// A size like `4GiB`, `512MiB`, `2G` or `1048576` (bytes); `0` means no limit.
fn bytes(sources: &Sources, key: &str) -> Result<u64, SettingsError> {
    let raw = sources.get_or_default(key).trim();
    parse_bytes(raw).ok_or_else(|| {
        SettingsError::of(
            key,
            format!("`{raw}` is not a size (like 4GiB, 512MiB, or 0 for no limit)"),
        )
    })
}

/// Parses a size in bytes with an optional binary unit (K, M, G, T, with or without `iB`).
pub fn parse_bytes(raw: &str) -> Option<u64> {
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let number: u64 = number.parse().ok()?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kib" | "kb" => 10,
        "m" | "mib" | "mb" => 20,
        "g" | "gib" | "gb" => 30,
        "t" | "tib" | "tb" => 40,
        _ => return None,
    };
    number.checked_mul(1u64 << shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("4GiB"), Some(4 << 30));
        assert_eq!(parse_bytes("512 MiB"), Some(512 << 20));
        assert_eq!(parse_bytes("2g"), Some(2 << 30));
        assert_eq!(parse_bytes("1048576"), Some(1 << 20));
        assert_eq!(parse_bytes("0"), Some(0));
        for bad in ["", "GiB", "4 PiB", "-1", "1.5G", "99999999999999999999T"] {
            assert_eq!(parse_bytes(bad), None, "{bad}");
        }
    }

    #[test]
    fn bwrap_by_default_none_on_request_and_errors_named() {
        let mut sources = Sources::default();
        let Ok(Sandbox::Bwrap(config)) = resolve(&sources, Path::new("/srv/bosun")) else {
            panic!("bwrap is the default");
        };
        assert_eq!(config.limits, Limits::default());
        assert_eq!((config.uid, config.gid), (65534, 65534));
        assert!(config.network);
        assert_eq!(config.hidden, vec![PathBuf::from("/srv/bosun")]);
        sources.env.set("sandbox_network", "false");
        sources
            .env
            .set("sandbox_writable_paths", "/srv/state, /var/tf");
        sources.env.set("sandbox_memory", "0");
        let Ok(Sandbox::Bwrap(config)) = resolve(&sources, Path::new("/d")) else {
            panic!("bwrap");
        };
        assert!(!config.network);
        assert_eq!(
            config.writable_paths,
            ["/srv/state", "/var/tf"].map(PathBuf::from)
        );
        assert_eq!(config.limits.memory, 0);
        sources.flags.set("sandbox", "none");
        assert_eq!(resolve(&sources, Path::new("/d")), Ok(Sandbox::None));
        sources.flags.set("sandbox", "docker");
        let err = resolve(&sources, Path::new("/d")).unwrap_err().to_string();
        assert_eq!(
            err,
            "BOSUN_SANDBOX (--sandbox): `docker` is not bwrap or none"
        );
        sources.flags.set("sandbox", "bwrap");
        sources.flags.set("sandbox_readable_paths", "relative/dir");
        let err = resolve(&sources, Path::new("/d")).unwrap_err().to_string();
        assert!(err.starts_with("BOSUN_SANDBOX_READABLE_PATHS"), "{err}");
    }

    #[test]
    fn uid_and_gid() {
        assert_eq!(uid_gid("65534"), Ok((65534, 65534)));
        assert_eq!(uid_gid("1000:100"), Ok((1000, 100)));
        for bad in ["0", "1000:0", "nobody", "", "1:2:3"] {
            assert!(uid_gid(bad).is_err(), "{bad}");
        }
    }
}
