//! Handing a writable tree to the sandbox's user: a recursive chown that never follows a
//! symlink. The tree was written by earlier sandboxed runs, so it is hostile: a symlink in it
//! must not make bosun (root) chown `/etc`. Every step works on directory descriptors opened
//! with `O_NOFOLLOW`, so nothing swapped in between a look and a change can redirect it.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use anyhow::{Context, Result, bail};
use rustix::fs::{AtFlags, CWD, Dir, Gid, Mode, OFlags, Uid};
use rustix::io::Errno;

/// How deep a tree may go (each level holds one open directory).
const MAX_DEPTH: usize = 64;
/// How many entries a tree may hold.
const MAX_ENTRIES: usize = 1_000_000;

/// Makes `path` and everything under it owned by `uid`:`gid`; symlinks are chowned
/// themselves, never followed. Fails past [`MAX_DEPTH`] levels or [`MAX_ENTRIES`] entries.
pub fn own_tree(path: &Path, uid: u32, gid: u32) -> Result<()> {
    let owner = (Uid::from_raw(uid), Gid::from_raw(gid));
    let mut budget = MAX_ENTRIES;
    match open_dir(CWD, path) {
        Ok(dir) => own_dir(dir, owner, 0, &mut budget),
        Err(Errno::NOTDIR | Errno::LOOP) => rustix::fs::chownat(
            CWD,
            path,
            Some(owner.0),
            Some(owner.1),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .with_context(|| format!("chown {}", path.display())),
        Err(e) => Err(e).with_context(|| format!("opening {}", path.display())),
    }
    .with_context(|| format!("handing {} to uid {uid}", path.display()))
}

fn open_dir<Fd: AsFd>(at: Fd, name: impl rustix::path::Arg) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat(
        at,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK,
        Mode::empty(),
    )
}

fn own_dir(dir: OwnedFd, owner: (Uid, Gid), depth: usize, budget: &mut usize) -> Result<()> {
    rustix::fs::fchown(&dir, Some(owner.0), Some(owner.1)).context("fchown")?;
    if depth >= MAX_DEPTH {
        bail!("deeper than {MAX_DEPTH} levels");
    }
    let entries = Dir::read_from(&dir).context("reading a directory")?;
    for entry in entries {
        let entry = entry.context("reading a directory")?;
        let name = entry.file_name();
        if name == c"." || name == c".." {
            continue;
        }
        *budget = budget
            .checked_sub(1)
            .with_context(|| format!("more than {MAX_ENTRIES} entries"))?;
        let shown = || name.to_string_lossy().into_owned();
        match open_dir(&dir, name) {
            Ok(child) => own_dir(child, owner, depth + 1, budget)
                .with_context(|| format!("in {}", shown()))?,
            Err(Errno::NOTDIR | Errno::LOOP) => rustix::fs::chownat(
                &dir,
                name,
                Some(owner.0),
                Some(owner.1),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .with_context(|| format!("chown {}", shown()))?,
            // Gone since it was listed.
            Err(Errno::NOENT) => {}
            Err(e) => return Err(e).with_context(|| format!("opening {}", shown())),
        }
    }
    Ok(())
}
