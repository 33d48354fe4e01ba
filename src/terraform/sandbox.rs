//! The sandbox every Terraform command runs in: [`Bwrap`], a [`Runner`] that hands
//! [`Direct`] a `bwrap` command line wrapping the [`Invocation`].
//!
//! **What the command sees.** An empty root (a tmpfs) holding only:
//! - system directories read-only (`/usr`, and `/bin`, `/sbin`, `/lib*` as the host has them:
//!   directories bound read-only, symlinks recreated), and from `/etc` only what programs need
//!   ([`ETC`]: TLS roots, name resolution, users and groups, time zone, the dynamic linker's
//!   cache). Not the whole `/etc`: operators keep bosun's own settings and key there;
//! - the directory of the program, read-only, when it is outside those;
//! - the invocation's [`readable`](Invocation::readable) paths read-only and its
//!   [`writable`](Invocation::writable) paths read-write (the checkout root; the plugin cache
//!   during `init`), and the operator's extra paths ([`BwrapConfig`]);
//! - a fresh `/proc` of its own PID namespace, a minimal `/dev`, and a private `/tmp`.
//!
//! Every path is bound at its own host path, so argv, `HOME` and `TF_PLUGIN_CACHE_DIR` stay
//! valid. Nothing else of the data directory exists inside: not the store, not the App key,
//! not the mirrors, not other checkouts (a [`hidden`](BwrapConfig::hidden) path that a system
//! bind would show is covered with an empty tmpfs).
//!
//! **Namespaces and lifetime.** PID, IPC, UTS and (when the kernel has it) cgroup namespaces,
//! the network namespace too when [`network`](BwrapConfig::network) is off or the
//! [`Invocation`] asks for no network (a workflow's `network: false`), and
//! `--die-with-parent`. [`Direct`] starts bwrap in a session of its own (no way back to
//! bosun's terminal) whose process group the command inside stays in (a process group spans
//! PID namespaces). bwrap starts with SIGINT ignored and `env --default-signal=INT` puts it
//! back for the command, so at the timeout the group's SIGINT reaches Terraform (and what it
//! runs), which stops gracefully and releases its state lock, while bwrap waits; the SIGKILL
//! after the grace period kills bwrap, and with it the kernel kills the sandbox's PID 1 and
//! every process in the namespace, so nothing outlives a run.
//!
//! **System calls.** A seccomp filter ([`seccomp`]) refuses new namespaces, mounts, `ptrace`,
//! `bpf`, the kernel keyring, kernel modules and the like. When bwrap runs in a user
//! namespace (bosun not root), `--disable-userns` also keeps the command from making another.
//!
//! **Who runs it.** When bosun runs as root, `bwrap` runs as root (it can then bind paths
//! under directories only root may enter) and `setpriv` inside drops to the unprivileged
//! [`uid`](BwrapConfig::uid) before the command starts: `RLIMIT_NPROC` is not enforced for
//! root. Every writable path is then chowned to that uid before each run (without following
//! symlinks; see [`own_tree`]). When bosun is not root, bwrap runs as bosun's user, in a user
//! namespace when the kernel allows one (or set-uid bwrap), and the process limit counts
//! bosun's own processes too.
//!
//! **Limits.** `prlimit` in front of the command sets address space, CPU seconds, processes
//! and file size ([`Limits`]).
//!
//! **Environment.** [`Direct`] starts bwrap with exactly [`Invocation::env`] (nothing of
//! bosun's own environment), and bwrap, `setpriv` and `prlimit` pass it on untouched. bwrap's
//! `--clearenv`/`--setenv` are not used: they would put the values (cloud credentials) in
//! bwrap's argv, which every user of the host can read.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use async_trait::async_trait;

use super::run::{Direct, Finished, Invocation, Runner, Spawn};

mod own;
mod seccomp;

pub use own::own_tree;

/// The system directories bound read-only (or recreated as the symlinks they are).
pub const SYSTEM: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
];

/// What of `/etc` the command sees (read-only, when the host has it).
pub const ETC: &[&str] = &[
    "/etc/alternatives",
    "/etc/ca-certificates",
    "/etc/ca-certificates.conf",
    "/etc/gai.conf",
    "/etc/group",
    "/etc/host.conf",
    "/etc/hosts",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/nsswitch.conf",
    "/etc/passwd",
    "/etc/pki",
    "/etc/protocols",
    "/etc/resolv.conf",
    "/etc/services",
    "/etc/ssl",
];

/// Where `setpriv`, `prlimit` (util-linux) and `env` (coreutils) are looked for; all inside
/// [`SYSTEM`].
const TOOL_DIRS: &[&str] = &["/usr/bin", "/usr/sbin", "/bin", "/sbin"];

/// Resource limits inside the sandbox, per process; 0 means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Address space in bytes (`RLIMIT_AS`).
    pub memory: u64,
    /// CPU time (`RLIMIT_CPU`), rounded up to whole seconds.
    pub cpu_time: Duration,
    /// Processes and threads of the sandbox's user (`RLIMIT_NPROC`).
    pub max_processes: u64,
    /// Largest file a process may write, in bytes (`RLIMIT_FSIZE`).
    pub max_file_size: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory: 4 << 30,
            cpu_time: Duration::from_secs(3600),
            max_processes: 512,
            max_file_size: 2 << 30,
        }
    }
}

/// How to build the sandbox (from the `sandbox_*` settings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BwrapConfig {
    /// The `bwrap` program (found on the runs' `PATH` when it has no `/`).
    pub bwrap: PathBuf,
    /// Whether the command shares the host's network (providers need their APIs).
    pub network: bool,
    /// Host paths every run may write (e.g. a local state directory).
    pub writable_paths: Vec<PathBuf>,
    /// Host paths every run may read (e.g. what a Terraform wrapper needs beyond its own
    /// directory).
    pub readable_paths: Vec<PathBuf>,
    /// Host paths never shown, even when a system directory holds them (the data directory).
    pub hidden: Vec<PathBuf>,
    pub limits: Limits,
    /// The user and group the command runs as when bosun is root.
    pub uid: u32,
    pub gid: u32,
}

impl Default for BwrapConfig {
    fn default() -> Self {
        Self {
            bwrap: "bwrap".into(),
            network: true,
            writable_paths: Vec::new(),
            readable_paths: Vec::new(),
            hidden: Vec::new(),
            limits: Limits::default(),
            uid: 65534,
            gid: 65534,
        }
    }
}

/// Who the sandboxed command runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Identity {
    /// bosun is root: bwrap runs as root, and `setpriv` (at this path) drops to uid:gid.
    Drop {
        uid: u32,
        gid: u32,
        setpriv: PathBuf,
    },
    /// bosun is not root: bwrap runs as bosun's user, in a user namespace when `userns`.
    Own { userns: bool },
}

/// A mount of the system part of the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
enum System {
    /// Bound read-only at the same path.
    Ro(PathBuf),
    /// A symlink `at` → `target`, as on the host (`/bin` → `usr/bin`).
    Symlink { target: PathBuf, at: PathBuf },
}

/// Runs every [`Invocation`] under bubblewrap (see the module docs).
#[derive(Debug, Clone)]
pub struct Bwrap {
    config: BwrapConfig,
    direct: Direct,
    identity: Identity,
    system: Vec<System>,
    /// `prlimit`, or `None` when no limit is set.
    prlimit: Option<PathBuf>,
    /// `env`, which puts SIGINT back to its default for the command (see [`Bwrap::run`]).
    env: PathBuf,
    /// The seccomp program (see [`seccomp`]); `None` on an architecture it does not know.
    seccomp: Option<Vec<u8>>,
}

impl Bwrap {
    /// A sandbox for this host, checked to work: a trivial command (`true`) is run in it.
    /// The error says how to fix the host.
    pub async fn ready(config: BwrapConfig) -> Result<Self> {
        for path in config.writable_paths.iter().chain(&config.readable_paths) {
            if !path.exists() {
                bail!("sandbox path {} does not exist", path.display());
            }
        }
        let mut sandbox = Self::probe(config)?;
        let first = match sandbox.trial().await {
            Ok(()) => return Ok(sandbox),
            Err(e) => e,
        };
        // No user namespaces: a set-uid bwrap still works without one.
        if sandbox.identity == (Identity::Own { userns: true }) {
            sandbox.identity = Identity::Own { userns: false };
            if sandbox.trial().await.is_ok() {
                return Ok(sandbox);
            }
        }
        Err(first.context(
            "bubblewrap cannot run a sandboxed command here; install it (Debian: \
             apt-get install bubblewrap; 0.8 or later, with a kernel that has seccomp, and \
             coreutils 8.31 or later for env --default-signal), or allow unprivileged user \
             namespaces (sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces \
             > 0), or set BOSUN_SANDBOX=none to run Terraform unsandboxed, knowingly",
        ))
    }

    /// A sandbox for this host as it looks (system layout, bosun's uid, util-linux tools),
    /// not yet tried (see [`ready`](Self::ready)).
    pub fn probe(config: BwrapConfig) -> Result<Self> {
        let mut system = Vec::new();
        for dir in SYSTEM {
            let path = Path::new(dir);
            match std::fs::symlink_metadata(path) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    let target = std::fs::read_link(path)
                        .with_context(|| format!("reading the link {dir}"))?;
                    system.push(System::Symlink {
                        target,
                        at: path.to_owned(),
                    });
                }
                Ok(meta) if meta.is_dir() => system.push(System::Ro(path.to_owned())),
                _ => {}
            }
        }
        system.extend(
            ETC.iter()
                .map(Path::new)
                .filter(|p| p.exists())
                .map(|p| System::Ro(p.to_owned())),
        );
        let identity = if rustix::process::geteuid().is_root() {
            Identity::Drop {
                uid: config.uid,
                gid: config.gid,
                setpriv: tool("setpriv", "util-linux")?,
            }
        } else {
            Identity::Own { userns: true }
        };
        let l = config.limits;
        let limited =
            l.memory > 0 || !l.cpu_time.is_zero() || l.max_processes > 0 || l.max_file_size > 0;
        let prlimit = if limited {
            Some(tool("prlimit", "util-linux")?)
        } else {
            None
        };
        let seccomp = seccomp::program();
        if seccomp.is_none() {
            tracing::warn!(
                arch = std::env::consts::ARCH,
                "no seccomp filter for this architecture: sandboxed commands may make any syscall"
            );
        }
        Ok(Self {
            config,
            direct: Direct::default(),
            identity,
            system,
            prlimit,
            env: tool("env", "coreutils")?,
            seccomp,
        })
    }

    /// Runs `true` in the sandbox.
    async fn trial(&self) -> Result<()> {
        let inv = Invocation {
            program: "true".into(),
            args: Vec::new(),
            cwd: "/".into(),
            env: vec![("PATH".into(), super::PATH.into())],
            timeout: Duration::from_secs(60),
            output_cap: 64 * 1024,
            writable: Vec::new(),
            readable: Vec::new(),
            network: true,
        };
        let done = self.run(inv).await?;
        if !done.exit.success() {
            bail!(
                "a sandboxed `true` failed ({}): {}",
                done.exit,
                done.output.trim()
            );
        }
        Ok(())
    }

    /// The `bwrap` invocation that runs `inv` in the sandbox.
    pub fn wrap(&self, inv: &Invocation) -> Result<Invocation> {
        let program = resolve(&inv.program, &inv.env)?;
        let cwd = std::path::absolute(&inv.cwd)
            .with_context(|| format!("resolving {}", inv.cwd.display()))?;
        let mut a = Args::default();
        // No `--new-session`: [`Direct`] starts bwrap in a session of its own already (no
        // terminal to reach), and the command must stay in bwrap's process group, which the
        // timeout signals.
        a.flags(["--die-with-parent"]);
        a.flags(["--unshare-pid", "--unshare-ipc", "--unshare-uts"]);
        a.flags(["--unshare-cgroup-try", "--hostname", "bosun-sandbox"]);
        if !self.config.network || !inv.network {
            a.flags(["--unshare-net"]);
        }
        match &self.identity {
            Identity::Own { userns: true } => a.flags(["--unshare-user", "--disable-userns"]),
            Identity::Own { userns: false } => {}
            // Only what `setpriv` needs to drop to the sandbox's user; it loses them then.
            Identity::Drop { .. } => a.flags([
                "--cap-drop",
                "ALL",
                "--cap-add",
                "CAP_SETUID",
                "--cap-add",
                "CAP_SETGID",
            ]),
        }
        for mount in &self.system {
            match mount {
                System::Ro(path) => {
                    a.parents(path)?;
                    a.bind("--ro-bind", path)?;
                }
                System::Symlink { target, at } => {
                    a.flags(["--symlink"]);
                    a.path(target)?;
                    a.path(at)?;
                }
            }
        }
        for hidden in &self.config.hidden {
            let hidden = std::path::absolute(hidden)
                .with_context(|| format!("resolving {}", hidden.display()))?;
            if a.in_bound(&hidden) {
                a.tmpfs(&hidden)?;
            }
        }
        a.flags(["--proc", "/proc", "--dev", "/dev"]);
        a.tmpfs_with(Path::new("/tmp"), "1777")?;
        for (path, writable) in self.user_mounts(inv, &program)? {
            a.parents(&path)?;
            a.bind(if writable { "--bind" } else { "--ro-bind" }, &path)?;
        }
        if self.seccomp.is_some() {
            a.flags(["--seccomp", SECCOMP_FD]);
        }
        a.flags(["--chdir"]);
        a.path(&cwd)?;
        a.flags(["--"]);
        a.path(&self.env)?;
        a.flags(["--default-signal=INT"]);
        if let Identity::Drop { uid, gid, setpriv } = &self.identity {
            a.path(setpriv)?;
            a.args.push(format!("--reuid={uid}"));
            a.args.push(format!("--regid={gid}"));
            a.flags(["--clear-groups", "--inh-caps=-all", "--"]);
        }
        if let Some(prlimit) = &self.prlimit {
            a.path(prlimit)?;
            a.args.extend(limit_args(&self.config.limits));
            a.flags(["--"]);
        }
        if program.to_string_lossy().contains('=') {
            // `env` would take it for a variable.
            bail!(
                "cannot sandbox a program whose path holds `=`: {}",
                program.display()
            );
        }
        a.path(&program)?;
        a.args.extend(inv.args.iter().cloned());
        Ok(Invocation {
            program: self.config.bwrap.clone(),
            args: a.args,
            cwd,
            env: inv.env.clone(),
            timeout: inv.timeout,
            output_cap: inv.output_cap,
            writable: Vec::new(),
            readable: Vec::new(),
            network: true,
        })
    }

    /// The paths bound for `inv` (absolute, `true` when writable), parents before children so
    /// a read-only path inside a writable one stays read-only.
    fn user_mounts(&self, inv: &Invocation, program: &Path) -> Result<Vec<(PathBuf, bool)>> {
        let mut mounts: Vec<(PathBuf, bool)> = Vec::new();
        let covered = |p: &Path| {
            self.system
                .iter()
                .any(|m| matches!(m, System::Ro(dir) if p.starts_with(dir)))
        };
        if let Some(dir) = program.parent().filter(|d| !covered(d)) {
            mounts.push((dir.to_owned(), false));
        }
        let ro = self.config.readable_paths.iter().chain(&inv.readable);
        let rw = self.config.writable_paths.iter().chain(&inv.writable);
        for (path, writable) in ro.map(|p| (p, false)).chain(rw.map(|p| (p, true))) {
            let path = std::path::absolute(path)
                .with_context(|| format!("resolving {}", path.display()))?;
            // Listed twice: writable wins.
            mounts.retain(|(p, w)| p != &path || (*w && !writable));
            if !mounts.iter().any(|(p, _)| p == &path) {
                mounts.push((path, writable));
            }
        }
        mounts.sort_by_key(|(p, _)| p.components().count());
        Ok(mounts)
    }
}

#[async_trait]
impl Runner for Bwrap {
    async fn run(&self, inv: Invocation) -> Result<Finished> {
        self.run_sandboxed(inv, None).await
    }

    async fn run_streaming(
        &self,
        inv: Invocation,
        output: std::sync::Arc<dyn super::run::Output>,
    ) -> Result<Finished> {
        self.run_sandboxed(inv, Some(output)).await
    }
}

impl Bwrap {
    /// Runs `inv` in the sandbox, its output handed to `output` as it is read when given.
    async fn run_sandboxed(
        &self,
        inv: Invocation,
        output: Option<std::sync::Arc<dyn super::run::Output>>,
    ) -> Result<Finished> {
        if let Identity::Drop { uid, gid, .. } = self.identity {
            let paths: Vec<PathBuf> = self
                .config
                .writable_paths
                .iter()
                .chain(&inv.writable)
                .cloned()
                .collect();
            tokio::task::spawn_blocking(move || {
                paths.iter().try_for_each(|p| own_tree(p, uid, gid))
            })
            .await
            .context("chown task")??;
        }
        let wrapped = self.wrap(&inv)?;
        let fd3 = match &self.seccomp {
            Some(program) => Some(memfd(program).context("passing the seccomp filter")?),
            None => None,
        };
        let spawn = Spawn {
            fd3,
            ignore_sigint: true,
            output,
        };
        self.direct.run_with(wrapped, spawn).await
    }
}

/// The fd bwrap reads the seccomp program from (see [`Spawn::fd3`]).
const SECCOMP_FD: &str = "3";

/// A memory file holding `bytes`, read from its start.
fn memfd(bytes: &[u8]) -> Result<std::os::fd::OwnedFd> {
    use std::io::{Seek, Write};
    let fd = rustix::fs::memfd_create("bosun-seccomp", rustix::fs::MemfdFlags::CLOEXEC)?;
    let mut file = std::fs::File::from(fd);
    file.write_all(bytes)?;
    file.rewind()?;
    Ok(file.into())
}

/// `prlimit`'s options for `limits` (soft and hard alike; a zero is left out).
fn limit_args(limits: &Limits) -> Vec<String> {
    let mut args = Vec::new();
    if limits.memory > 0 {
        args.push(format!("--as={}", limits.memory));
    }
    if !limits.cpu_time.is_zero() {
        let secs = limits.cpu_time.as_secs() + u64::from(limits.cpu_time.subsec_nanos() > 0);
        args.push(format!("--cpu={secs}"));
    }
    if limits.max_processes > 0 {
        args.push(format!("--nproc={}", limits.max_processes));
    }
    if limits.max_file_size > 0 {
        args.push(format!("--fsize={}", limits.max_file_size));
    }
    args
}

/// The program's real path: found on the invocation's `PATH` when it has no `/`, symlinks
/// resolved (its directory is what the sandbox must show).
fn resolve(program: &Path, env: &[(String, String)]) -> Result<PathBuf> {
    let found = if program.components().count() > 1 {
        program.to_owned()
    } else {
        let path = env
            .iter()
            .rev()
            .find(|(k, _)| k == "PATH")
            .map_or(super::PATH, |(_, v)| v.as_str());
        std::env::split_paths(path)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
            .with_context(|| format!("program not found: {}", program.display()))?
    };
    found
        .canonicalize()
        .with_context(|| format!("program not found: {}", found.display()))
}

/// A tool of `package` in the system directories.
fn tool(name: &str, package: &str) -> Result<PathBuf> {
    TOOL_DIRS
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
        .with_context(|| format!("`{name}` is missing: install {package}"))
}

/// bwrap's argv as it is built, with what exists inside so far.
#[derive(Default)]
struct Args {
    args: Vec<String>,
    /// Mount points: `true` when bound from the host (everything under it that the host has
    /// exists inside), `false` for an empty tmpfs.
    mounts: Vec<(PathBuf, bool)>,
    /// Directories made inside (`--dir`).
    made: BTreeSet<PathBuf>,
}

impl Args {
    fn flags<const N: usize>(&mut self, flags: [&str; N]) {
        self.args.extend(flags.map(str::to_owned));
    }

    fn path(&mut self, path: &Path) -> Result<()> {
        let text = path
            .to_str()
            .with_context(|| format!("{} is not UTF-8", path.display()))?;
        self.args.push(text.to_owned());
        Ok(())
    }

    fn bind(&mut self, how: &str, path: &Path) -> Result<()> {
        self.flags([how]);
        self.path(path)?;
        self.path(path)?;
        self.mounts.push((path.to_owned(), true));
        Ok(())
    }

    fn tmpfs(&mut self, path: &Path) -> Result<()> {
        self.tmpfs_with(path, "0755")
    }

    fn tmpfs_with(&mut self, path: &Path, perms: &str) -> Result<()> {
        self.parents(path)?;
        self.flags(["--perms", perms, "--tmpfs"]);
        self.path(path)?;
        self.mounts.push((path.to_owned(), false));
        Ok(())
    }

    /// Whether a system directory bound from the host holds `path`.
    fn in_bound(&self, path: &Path) -> bool {
        self.mounts
            .iter()
            .any(|(m, bound)| *bound && path.starts_with(m))
    }

    /// Whether `dir` exists inside: made, a mount point, or under a bind (and not under a
    /// tmpfs mounted deeper).
    fn exists(&self, dir: &Path) -> bool {
        if dir.parent().is_none() || self.made.contains(dir) {
            return true;
        }
        self.mounts
            .iter()
            .filter(|(m, _)| dir.starts_with(m))
            .max_by_key(|(m, _)| m.components().count())
            .is_some_and(|(m, bound)| *bound || m == dir)
    }

    /// Makes the directories above `path` that do not exist inside yet, `0755` (bwrap would
    /// make them `0700`, closed to the sandbox's user).
    fn parents(&mut self, path: &Path) -> Result<()> {
        let mut above: Vec<&Path> = path.ancestors().skip(1).collect();
        above.reverse();
        for dir in above {
            if !self.exists(dir) {
                self.flags(["--perms", "0755", "--dir"]);
                self.path(dir)?;
                self.made.insert(dir.to_owned());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
