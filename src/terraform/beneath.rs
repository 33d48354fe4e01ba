//! Host-side file access beneath a directory whose contents bosun does not trust (a checkout,
//! or a run directory a sandboxed command has written): every path component is opened with
//! `O_NOFOLLOW` relative to the one before, so no symlink — committed by a pull request or
//! planted by an earlier step — can redirect a read or a write, and `..` or an absolute path
//! cannot leave the directory. What is read must be a regular file and at most a given size
//! (a FIFO or `/dev/zero` cannot hang or exhaust bosun).

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Component, Path};

use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags};
use rustix::io::Errno;

/// Why a path beneath a directory was not used.
#[derive(Debug, thiserror::Error)]
pub enum Unsafe {
    #[error("`{0}` is not a plain relative path (no `..`, no leading `/`)")]
    Path(String),
    #[error("`{0}` is or goes through a symbolic link")]
    Symlink(String),
    #[error("`{0}` is not a regular file")]
    NotFile(String),
    #[error("`{0}` is larger than {1} bytes")]
    TooBig(String, u64),
    #[error("`{0}`: {1}")]
    Io(String, std::io::Error),
}

impl Unsafe {
    fn of(path: &Path, e: Errno) -> Self {
        let shown = path.display().to_string();
        match e {
            // O_NOFOLLOW on a symlink gives ELOOP; O_DIRECTORY on one gives ENOTDIR too.
            Errno::LOOP => Self::Symlink(shown),
            e => Self::Io(shown, e.into()),
        }
    }
}

/// Opens the directory `dir` itself (bosun's own path, followed as given).
fn open_root(dir: &Path) -> Result<OwnedFd, Unsafe> {
    rustix::fs::openat(
        CWD,
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Unsafe::Io(dir.display().to_string(), e.into()))
}

/// The components of `rel`, which must be relative and free of `..`.
fn components(rel: &Path) -> Result<Vec<&std::ffi::OsStr>, Unsafe> {
    let mut parts = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(part) => parts.push(part),
            Component::CurDir => {}
            _ => return Err(Unsafe::Path(rel.display().to_string())),
        }
    }
    if parts.is_empty() {
        return Err(Unsafe::Path(rel.display().to_string()));
    }
    Ok(parts)
}

/// Opens `rel` beneath `dir` with `flags`, every directory on the way with `O_NOFOLLOW`, and
/// the last component with `O_NOFOLLOW` too.
fn open_beneath(dir: &Path, rel: &Path, flags: OFlags, mode: Mode) -> Result<OwnedFd, Unsafe> {
    let parts = components(rel)?;
    let mut at = open_root(dir)?;
    let (last, above) = parts
        .split_last()
        .ok_or_else(|| Unsafe::Path(String::new()))?;
    for part in above {
        at = rustix::fs::openat(
            &at,
            *part,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| {
            // O_DIRECTORY on a link may fail as "not a directory" rather than as a loop.
            let link = rustix::fs::statat(&at, *part, AtFlags::SYMLINK_NOFOLLOW)
                .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Symlink);
            if link {
                Unsafe::Symlink(rel.display().to_string())
            } else {
                Unsafe::of(rel, e)
            }
        })?;
    }
    rustix::fs::openat(
        &at,
        *last,
        flags | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY,
        mode,
    )
    .map_err(|e| Unsafe::of(rel, e))
}

/// The bytes of the regular file `rel` beneath `dir`, at most `cap` of them; `None` when it
/// does not exist. A symlink anywhere on the way, `..`, anything but a regular file, or more
/// than `cap` bytes is an [`Unsafe`] error.
pub fn read_beneath(dir: &Path, rel: &Path, cap: u64) -> Result<Option<Vec<u8>>, Unsafe> {
    let shown = || rel.display().to_string();
    // O_NONBLOCK: opening a FIFO must not wait for a writer.
    let fd = match open_beneath(dir, rel, OFlags::RDONLY | OFlags::NONBLOCK, Mode::empty()) {
        Ok(fd) => fd,
        Err(Unsafe::Io(_, e)) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let stat = rustix::fs::fstat(&fd).map_err(|e| Unsafe::Io(shown(), e.into()))?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        return Err(Unsafe::NotFile(shown()));
    }
    if u64::try_from(stat.st_size).unwrap_or(u64::MAX) > cap {
        return Err(Unsafe::TooBig(shown(), cap));
    }
    let mut bytes = Vec::new();
    std::fs::File::from(fd)
        .take(cap.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| Unsafe::Io(shown(), e))?;
    if bytes.len() as u64 > cap {
        return Err(Unsafe::TooBig(shown(), cap));
    }
    Ok(Some(bytes))
}

/// The names of the entries of the directory `rel` beneath `dir` (`.`: `dir` itself), every
/// directory on the way opened without following a symlink.
pub fn list_beneath(dir: &Path, rel: &Path) -> Result<Vec<String>, Unsafe> {
    let shown = || rel.display().to_string();
    let here = rel.components().all(|c| c == Component::CurDir);
    let fd = if here {
        open_root(dir)?
    } else {
        open_beneath(dir, rel, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty())?
    };
    let mut names = Vec::new();
    let entries = rustix::fs::Dir::read_from(&fd).map_err(|e| Unsafe::Io(shown(), e.into()))?;
    for entry in entries {
        let entry = entry.map_err(|e| Unsafe::Io(shown(), e.into()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != "." && name != ".." {
            names.push(name);
        }
    }
    Ok(names)
}

/// Creates the file `rel` beneath `dir` (it must not exist yet: `O_EXCL`, so nothing planted
/// there is followed or reused), mode 0600, holding `bytes`.
pub fn create_beneath(dir: &Path, rel: &Path, bytes: &[u8]) -> Result<(), Unsafe> {
    use std::io::Write;
    let fd = open_beneath(
        dir,
        rel,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL,
        Mode::from_raw_mode(0o600),
    )?;
    std::fs::File::from(fd)
        .write_all(bytes)
        .map_err(|e| Unsafe::Io(rel.display().to_string(), e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    const CAP: u64 = 1024;

    #[test]
    fn reads_a_regular_file_beneath() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("a/b")).unwrap();
        std::fs::write(tmp.path().join("a/b/f"), "hello").unwrap();
        let got = read_beneath(tmp.path(), Path::new("a/b/f"), CAP).unwrap();
        assert_eq!(got.as_deref(), Some(&b"hello"[..]));
        let got = read_beneath(tmp.path(), Path::new("./a/b/f"), CAP).unwrap();
        assert_eq!(got.as_deref(), Some(&b"hello"[..]));
        assert!(
            read_beneath(tmp.path(), Path::new("a/missing"), CAP)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_symlink_is_refused_last_or_on_the_way() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "secret").unwrap();
        symlink(outside.path().join("secret"), tmp.path().join("link")).unwrap();
        symlink(outside.path(), tmp.path().join("dirlink")).unwrap();
        for rel in ["link", "dirlink/secret"] {
            let got = read_beneath(tmp.path(), Path::new(rel), CAP);
            assert!(matches!(got, Err(Unsafe::Symlink(_))), "{rel}: {got:?}");
        }
        // A dangling link is refused too, never created through.
        symlink(outside.path().join("new"), tmp.path().join("dangling")).unwrap();
        let made = create_beneath(tmp.path(), Path::new("dangling"), b"x");
        assert!(made.is_err(), "{made:?}");
        assert!(!outside.path().join("new").exists());
        let made = create_beneath(tmp.path(), Path::new("dirlink/new"), b"x");
        assert!(matches!(made, Err(Unsafe::Symlink(_))), "{made:?}");
        assert!(!outside.path().join("new").exists());
    }

    #[test]
    fn a_file_on_the_way_is_not_a_link() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("f"), "x").unwrap();
        let got = read_beneath(tmp.path(), Path::new("f/g"), CAP);
        assert!(matches!(got, Err(Unsafe::Io(..))), "{got:?}");
    }

    #[test]
    fn dot_dot_and_absolute_paths_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("d")).unwrap();
        std::fs::write(tmp.path().join("f"), "x").unwrap();
        for rel in ["d/../f", "../f", "/etc/passwd", "", "."] {
            let got = read_beneath(&tmp.path().join("d"), Path::new(rel), CAP);
            assert!(matches!(got, Err(Unsafe::Path(_))), "{rel}: {got:?}");
        }
        let made = create_beneath(tmp.path(), Path::new("../escape"), b"x");
        assert!(matches!(made, Err(Unsafe::Path(_))), "{made:?}");
    }

    #[test]
    fn only_regular_files_are_read() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("d")).unwrap();
        rustix::fs::mknodat(
            CWD,
            tmp.path().join("fifo"),
            FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        for rel in ["d", "fifo"] {
            let got = read_beneath(tmp.path(), Path::new(rel), CAP);
            assert!(matches!(got, Err(Unsafe::NotFile(_))), "{rel}: {got:?}");
        }
    }

    #[test]
    fn size_is_capped() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("big"), vec![0u8; 2000]).unwrap();
        std::fs::write(tmp.path().join("exact"), vec![1u8; CAP as usize]).unwrap();
        let got = read_beneath(tmp.path(), Path::new("big"), CAP);
        assert!(matches!(got, Err(Unsafe::TooBig(_, CAP))), "{got:?}");
        let got = read_beneath(tmp.path(), Path::new("exact"), CAP).unwrap();
        assert_eq!(got.map(|b| b.len()), Some(CAP as usize));
    }

    #[test]
    fn create_refuses_an_existing_file() {
        let tmp = tempfile::tempdir().unwrap();
        create_beneath(tmp.path(), Path::new("f"), b"one").unwrap();
        assert!(create_beneath(tmp.path(), Path::new("f"), b"two").is_err());
        assert_eq!(std::fs::read(tmp.path().join("f")).unwrap(), b"one");
    }

    proptest::proptest! {
        /// Whatever path is asked for, in a tree that holds links out of it at every level,
        /// only files inside the tree are ever read, and a write never lands outside.
        #[test]
        fn no_path_reads_or_writes_outside_the_tree(
            parts in proptest::collection::vec(
                proptest::sample::select(vec!["a", "b", "out", "up", "f", "..", ".", "/", "new"]),
                1..6,
            ),
        ) {
            let outside = tempfile::tempdir().unwrap();
            std::fs::write(outside.path().join("f"), "OUTSIDE").unwrap();
            let tree = tempfile::tempdir().unwrap();
            let root = tree.path().join("root");
            for dir in ["", "a", "a/b"] {
                let d = root.join(dir);
                std::fs::create_dir_all(&d).unwrap();
                std::fs::write(d.join("f"), "inside").unwrap();
                symlink(outside.path(), d.join("out")).unwrap();
                symlink("..", d.join("up")).unwrap();
            }
            let rel: std::path::PathBuf = parts.iter().collect();
            if let Ok(Some(bytes)) = read_beneath(&root, &rel, CAP) {
                proptest::prop_assert_eq!(bytes, b"inside".to_vec(), "{}", rel.display());
            }
            let _ = create_beneath(&root, &rel, b"written");
            let outside_now: Vec<_> = std::fs::read_dir(outside.path())
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            proptest::prop_assert_eq!(outside_now, vec![std::ffi::OsString::from("f")]);
            proptest::prop_assert_eq!(
                std::fs::read_to_string(outside.path().join("f")).unwrap(),
                "OUTSIDE"
            );
            proptest::prop_assert!(!tree.path().join("new").exists());
        }
    }
}
