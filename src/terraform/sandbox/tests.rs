//! The argv built, and hostile commands run through the real bwrap. These need bubblewrap
//! (`apt-get install bubblewrap`; CI installs it) and fail loudly without it.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::terraform::Exit;

fn inv(program: &str, args: &[&str]) -> Invocation {
    Invocation {
        program: program.into(),
        args: args.iter().map(|a| a.to_string()).collect(),
        cwd: "/data/checkouts/acme/pr-1/envs-prod/envs/prod".into(),
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        timeout: Duration::from_secs(60),
        output_cap: 1 << 20,
        writable: vec!["/data/checkouts/acme/pr-1/envs-prod".into()],
        readable: vec!["/data/plugin-cache".into()],
        network: true,
    }
}

fn fixed(identity: Identity, config: BwrapConfig) -> Bwrap {
    Bwrap {
        config,
        direct: Direct::default(),
        identity,
        system: vec![
            System::Ro("/usr".into()),
            System::Symlink {
                target: "usr/bin".into(),
                at: "/bin".into(),
            },
            System::Ro("/etc/ssl".into()),
        ],
        prlimit: Some("/usr/bin/prlimit".into()),
        env: "/usr/bin/env".into(),
        seccomp: seccomp::program(),
    }
}

/// The argv, one option (with its values) per line.
fn argv(wrapped: &Invocation) -> String {
    let mut out = String::new();
    for arg in &wrapped.args {
        if arg.starts_with("--") && !out.is_empty() {
            out.push('\n');
        } else if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(arg);
    }
    out
}

#[test]
fn as_root_binds_the_checkout_and_drops_to_the_sandbox_user() {
    let config = BwrapConfig {
        writable_paths: vec!["/srv/tfstate".into()],
        ..BwrapConfig::default()
    };
    let bwrap = fixed(
        Identity::Drop {
            uid: 65534,
            gid: 65534,
            setpriv: "/usr/bin/setpriv".into(),
        },
        config,
    );
    let wrapped = bwrap.wrap(&inv("/usr/bin/env", &["-0"])).unwrap();
    assert_eq!(wrapped.program, PathBuf::from("bwrap"));
    assert_eq!(wrapped.env, vec![("PATH".into(), "/usr/bin:/bin".into())]);
    assert!(wrapped.writable.is_empty() && wrapped.readable.is_empty());
    assert_eq!(
        argv(&wrapped),
        "--die-with-parent
--unshare-pid
--unshare-ipc
--unshare-uts
--unshare-cgroup-try
--hostname bosun-sandbox
--cap-drop ALL
--cap-add CAP_SETUID
--cap-add CAP_SETGID
--ro-bind /usr /usr
--symlink usr/bin /bin
--perms 0755
--dir /etc
--ro-bind /etc/ssl /etc/ssl
--proc /proc
--dev /dev
--perms 1777
--tmpfs /tmp
--perms 0755
--dir /data
--ro-bind /data/plugin-cache /data/plugin-cache
--perms 0755
--dir /srv
--bind /srv/tfstate /srv/tfstate
--perms 0755
--dir /data/checkouts
--perms 0755
--dir /data/checkouts/acme
--perms 0755
--dir /data/checkouts/acme/pr-1
--bind /data/checkouts/acme/pr-1/envs-prod /data/checkouts/acme/pr-1/envs-prod
--seccomp 3
--chdir /data/checkouts/acme/pr-1/envs-prod/envs/prod
-- /usr/bin/env
--default-signal=INT /usr/bin/setpriv
--reuid=65534
--regid=65534
--clear-groups
--inh-caps=-all
-- /usr/bin/prlimit
--as=4294967296
--cpu=3600
--nproc=512
--fsize=2147483648
-- /usr/bin/env -0"
    );
}

#[test]
fn an_invocation_without_network_is_cut_off_whatever_the_setting() {
    let bwrap = fixed(Identity::Own { userns: true }, BwrapConfig::default());
    let with = argv(&bwrap.wrap(&inv("/usr/bin/env", &[])).unwrap());
    assert!(!with.contains("--unshare-net"), "{with}");
    let mut off = inv("/usr/bin/env", &[]);
    off.network = false;
    let without = argv(&bwrap.wrap(&off).unwrap());
    assert!(without.contains("\n--unshare-net\n"), "{without}");
}

#[test]
fn not_root_uses_a_user_namespace_and_no_setpriv() {
    let config = BwrapConfig {
        network: false,
        limits: Limits {
            memory: 0,
            cpu_time: Duration::from_millis(1500),
            max_processes: 0,
            max_file_size: 0,
        },
        ..BwrapConfig::default()
    };
    let bwrap = fixed(Identity::Own { userns: true }, config);
    let text = argv(&bwrap.wrap(&inv("/usr/bin/env", &[])).unwrap());
    assert!(
        text.contains("\n--unshare-net\n--unshare-user\n--disable-userns\n"),
        "{text}"
    );
    assert!(text.contains("\n--seccomp 3\n"), "{text}");
    assert!(
        !text.contains("setpriv") && !text.contains("--cap-"),
        "{text}"
    );
    assert!(
        text.ends_with("--default-signal=INT /usr/bin/prlimit\n--cpu=2\n-- /usr/bin/env"),
        "{text}"
    );
    let setuid = fixed(Identity::Own { userns: false }, BwrapConfig::default());
    let text = argv(&setuid.wrap(&inv("/usr/bin/env", &[])).unwrap());
    assert!(!text.contains("--unshare-user"), "{text}");
    assert!(!text.contains("--disable-userns"), "{text}");
    assert!(text.contains("\n--seccomp 3\n"), "{text}");
}

#[test]
fn a_program_outside_the_system_dirs_has_its_directory_bound_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let tf = dir.path().join("terraform");
    std::fs::write(&tf, "#!/bin/sh\n").unwrap();
    let bwrap = fixed(Identity::Own { userns: true }, BwrapConfig::default());
    let text = argv(&bwrap.wrap(&inv(tf.to_str().unwrap(), &[])).unwrap());
    let real = dir.path().canonicalize().unwrap();
    assert!(
        text.contains(&format!("--ro-bind {0} {0}\n", real.display())),
        "{text}"
    );
    // A bare name is found on the run's PATH.
    let mut bare = inv("env", &[]);
    bare.env = vec![("PATH".into(), "/nonexistent:/usr/bin".into())];
    let text = argv(&bwrap.wrap(&bare).unwrap());
    assert!(text.ends_with(" /usr/bin/env"), "{text}");
    bare.program = "no-such-program-here".into();
    assert!(bwrap.wrap(&bare).is_err());
}

#[test]
fn a_path_listed_writable_and_readable_is_writable_once() {
    let config = BwrapConfig {
        readable_paths: vec!["/data/checkouts/acme/pr-1/envs-prod".into()],
        ..BwrapConfig::default()
    };
    let bwrap = fixed(Identity::Own { userns: true }, config);
    let text = argv(&bwrap.wrap(&inv("/usr/bin/env", &[])).unwrap());
    let pr = "/data/checkouts/acme/pr-1/envs-prod";
    assert!(text.contains(&format!("\n--bind {pr} {pr}\n")), "{text}");
    assert!(!text.contains(&format!("--ro-bind {pr}")), "{text}");
}

#[test]
fn a_hidden_data_dir_under_a_system_dir_is_covered() {
    let config = BwrapConfig {
        hidden: vec!["/usr/local/bosun".into()],
        ..BwrapConfig::default()
    };
    let bwrap = fixed(Identity::Own { userns: true }, config);
    let mut inv = inv("/usr/bin/env", &[]);
    inv.writable = vec!["/usr/local/bosun/checkouts/acme/pr-1/x".into()];
    inv.readable.clear();
    inv.cwd = "/usr/local/bosun/checkouts/acme/pr-1/x".into();
    let text = argv(&bwrap.wrap(&inv).unwrap());
    assert!(
        text.contains(
            "--perms 0755\n--tmpfs /usr/local/bosun\n--proc /proc\n--dev /dev\n--perms 1777\n\
             --tmpfs /tmp\n--perms 0755\n--dir /usr/local/bosun/checkouts\n"
        ),
        "{text}"
    );
}

// --- the real bwrap -------------------------------------------------------------------------

/// A data directory as bosun has it: the App key, the store, two PRs' checkouts, the cache.
struct Host {
    _tmp: tempfile::TempDir,
    data: PathBuf,
    job: PathBuf,
    cache: PathBuf,
}

fn host() -> Host {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let job = data.join("checkouts/acme/pr-1/envs-prod");
    let other = data.join("checkouts/acme/pr-2/envs-prod");
    let cache = data.join("plugin-cache");
    for dir in [&job, &other, &cache] {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::write(data.join("app.pem"), "-----BEGIN PRIVATE KEY-----\n").unwrap();
    std::fs::write(data.join("bosun.db"), "SQLite format 3\0").unwrap();
    std::fs::write(other.join("main.tf"), "# pr-2's code\n").unwrap();
    std::fs::write(cache.join("provider"), "provider bytes\n").unwrap();
    Host {
        _tmp: tmp,
        data,
        job,
        cache,
    }
}

async fn sandbox(host: &Host, limits: Limits) -> Bwrap {
    let config = BwrapConfig {
        limits,
        hidden: vec![host.data.clone()],
        ..BwrapConfig::default()
    };
    Bwrap::ready(config)
        .await
        .expect("bubblewrap runs here (apt-get install bubblewrap)")
}

fn sh(host: &Host, script: &str) -> Invocation {
    Invocation {
        program: "/bin/sh".into(),
        args: vec!["-c".into(), script.into()],
        cwd: host.job.clone(),
        env: vec![
            ("PATH".into(), "/usr/bin:/bin".into()),
            ("DATA".into(), host.data.display().to_string()),
            ("CACHE".into(), host.cache.display().to_string()),
        ],
        timeout: Duration::from_secs(60),
        output_cap: 1 << 20,
        writable: vec![host.job.clone()],
        readable: vec![host.cache.clone()],
        network: true,
    }
}

/// Whether a process whose command line holds `marker` is alive (zombies count as gone).
fn alive(marker: &str) -> bool {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return false;
    };
    procs.flatten().any(|p| {
        let cmdline = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
        let stat = std::fs::read_to_string(p.path().join("stat")).unwrap_or_default();
        let zombie = stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
        !zombie && String::from_utf8_lossy(&cmdline).contains(marker)
    })
}

/// Waits (bounded) until no process with `marker` is alive.
async fn all_gone(marker: &str) -> bool {
    for _ in 0..500 {
        if !alive(marker) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[tokio::test]
async fn secrets_store_and_other_checkouts_are_not_visible() {
    let host = host();
    let bwrap = sandbox(&host, Limits::default()).await;
    let script = r#"
        cat "$DATA/app.pem" && echo LEAK-key
        cat "$DATA/bosun.db" && echo LEAK-db
        ls "$DATA/checkouts/acme/pr-2" && echo LEAK-other
        cat "$DATA/checkouts/acme/pr-2/envs-prod/main.tf" && echo LEAK-other-file
        cat /etc/shadow && echo LEAK-shadow
        echo "data: $(ls -A "$DATA" | tr '\n' ' ')"
        echo "prs: $(ls -A "$DATA/checkouts/acme" | tr '\n' ' ')"
        cat "$CACHE/provider"
        id -u
    "#;
    let done = bwrap.run(sh(&host, script)).await.unwrap();
    assert!(!done.output.contains("LEAK"), "{}", done.output);
    assert!(!done.output.contains("PRIVATE KEY"), "{}", done.output);
    assert!(
        done.output.contains("data: checkouts plugin-cache \n"),
        "{}",
        done.output
    );
    assert!(done.output.contains("prs: pr-1 \n"), "{}", done.output);
    assert!(done.output.contains("provider bytes\n"), "{}", done.output);
    if rustix::process::geteuid().is_root() {
        assert!(done.output.ends_with("65534\n"), "{}", done.output);
    }
}

#[tokio::test]
async fn writes_land_only_in_the_checkout_and_a_private_tmp() {
    let host = host();
    let bwrap = sandbox(&host, Limits::default()).await;
    let marker = format!("bosun-sandbox-test-{}", fastrand::u64(..));
    let script = format!(
        r#"
        echo ok > written && echo wrote-checkout
        mkdir -p .terraform/providers && echo ok > .terraform/providers/p && echo wrote-nested
        echo x > /tmp/{marker} && echo wrote-tmp
        echo x > "$DATA/escape" && echo LEAK-data
        echo x > "$CACHE/escape" && echo LEAK-cache
        echo x > /usr/escape && echo LEAK-usr
        echo x > /etc/escape && echo LEAK-etc
        echo x > ../escape && echo LEAK-parent
        true
    "#
    );
    let done = bwrap.run(sh(&host, &script)).await.unwrap();
    assert!(!done.output.contains("LEAK"), "{}", done.output);
    for wrote in ["wrote-checkout", "wrote-nested", "wrote-tmp"] {
        assert!(done.output.contains(wrote), "{}", done.output);
    }
    assert!(host.job.join("written").is_file());
    assert!(!host.data.join("escape").exists());
    assert!(!host.cache.join("escape").exists());
    assert!(!host.job.parent().unwrap().join("escape").exists());
    assert!(!Path::new("/tmp").join(&marker).exists(), "/tmp is private");
}

#[tokio::test]
async fn the_environment_is_exactly_the_invocations() {
    let host = host();
    let bwrap = sandbox(&host, Limits::default()).await;
    let mut inv = sh(&host, "");
    inv.program = "env".into();
    inv.args.clear();
    inv.env = vec![
        ("PATH".into(), "/usr/bin:/bin".into()),
        ("TF_IN_AUTOMATION".into(), "1".into()),
    ];
    let done = bwrap.run(inv).await.unwrap();
    let pwd = format!("PWD={}", host.job.display());
    let mut lines: Vec<&str> = done.output.lines().collect();
    lines.sort_unstable();
    // bwrap's `--chdir` sets PWD.
    assert_eq!(lines, ["PATH=/usr/bin:/bin", &pwd, "TF_IN_AUTOMATION=1"]);
}

#[tokio::test]
async fn a_command_past_its_timeout_dies_with_its_children() {
    let host = host();
    let bwrap = sandbox(&host, Limits::default()).await;
    let mut inv = sh(&host, "sleep 4242.17 & sleep 4242.18 & sleep 4242.19; wait");
    inv.timeout = Duration::from_millis(500);
    let done = bwrap.run(inv).await.unwrap();
    assert_eq!(done.exit, Exit::TimedOut);
    assert!(
        all_gone("4242.1").await,
        "a sleeping child outlived the run"
    );
}

#[tokio::test]
async fn the_timeout_interrupts_the_command_before_killing_it() {
    let host = host();
    let bwrap = sandbox(&host, Limits::default()).await;
    let script = "trap 'echo interrupted > marker; exit 130' INT; sleep 4242.21 & wait";
    let mut inv = sh(&host, script);
    inv.timeout = Duration::from_millis(700);
    let done = bwrap.run(inv).await.unwrap();
    assert_eq!(done.exit, Exit::TimedOut);
    let marker = std::fs::read_to_string(host.job.join("marker")).unwrap_or_default();
    assert_eq!(
        marker, "interrupted\n",
        "SIGINT reached the command: {}",
        done.output
    );
    assert!(all_gone("4242.21").await, "a child outlived the run");
}

/// Asks the kernel, from Python's ctypes, for what the seccomp filter refuses; prints
/// `name=ok` or `name=<errno name>`.
const PROBES: &str = r#"
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def probe(name, nr, *args):
    ctypes.set_errno(0)
    r = libc.syscall(nr, *[ctypes.c_long(a) for a in args])
    if r == 0 and name == "clone_newuser":
        os._exit(0)
    e = ctypes.get_errno()
    print(name + "=" + ("ok" if r >= 0 else errno.errorcode.get(e, str(e))), flush=True)
buf = ctypes.create_string_buffer(8)
local = (ctypes.c_void_p * 2)(ctypes.addressof(buf), 8)
probe("keyctl", 250, 0, -3, 0)
probe("process_vm_readv", 310, os.getpid(), ctypes.addressof(local), 1, ctypes.addressof(local), 1, 0)
probe("unshare_user", 272, 0x10000000)
probe("clone_newuser", 56, 0x10000000 | 17, 0, 0, 0, 0)
probe("setns", 308, 0, 0)
probe("mount", 165, 0, 0, 0, 0, 0)
probe("bpf", 321, 999, 0, 0)
probe("clone3", 435, 0, 0)
probe("getpid", 39)
# Last: untraced, a traced process stops at its next signal.
probe("ptrace", 101, 0, 0, 0, 0)
"#;

#[tokio::test]
async fn syscalls_that_escape_or_spy_are_refused() {
    if std::env::consts::ARCH != "x86_64" {
        eprintln!("skipped: the probes use x86-64 syscall numbers");
        return;
    }
    let host = host();
    let bwrap = sandbox(&host, Limits::default()).await;
    let mut inv = sh(&host, "");
    inv.program = "/usr/bin/python3".into();
    inv.args = vec!["-c".into(), PROBES.into()];
    let done = bwrap.run(inv).await.unwrap();
    let mut seen: Vec<&str> = done.output.lines().collect();
    seen.sort_unstable();
    assert_eq!(
        seen,
        [
            "bpf=EPERM",
            "clone3=ENOSYS",
            "clone_newuser=EPERM",
            "getpid=ok",
            "keyctl=EPERM",
            "mount=EPERM",
            "process_vm_readv=EPERM",
            "ptrace=EPERM",
            "setns=EPERM",
            "unshare_user=EPERM",
        ],
        "{}",
        done.output
    );
    // util-linux's unshare too, and threads and processes still start.
    let script = "unshare -Ur true; echo unshare=$?; unshare -Urn true; echo unshare_net=$?; \
                  (sleep 0.1 & wait) && echo fork=ok";
    let done = bwrap.run(sh(&host, script)).await.unwrap();
    for want in ["unshare=1", "unshare_net=1", "fork=ok"] {
        assert!(done.output.contains(want), "{want}: {}", done.output);
    }
}

#[tokio::test]
async fn in_a_user_namespace_no_further_one_can_be_made() {
    let host = host();
    let mut bwrap = sandbox(&host, Limits::default()).await;
    // The flag alone, without the filter that would refuse it as well.
    bwrap.identity = Identity::Own { userns: true };
    bwrap.seccomp = None;
    let done = bwrap
        .run(sh(&host, "unshare -Ur true && echo LEAK-userns; echo done"))
        .await
        .unwrap();
    assert!(done.exit.success(), "{}", done.output);
    assert!(!done.output.contains("LEAK"), "{}", done.output);
    assert!(done.output.contains("done"), "{}", done.output);
}

#[tokio::test]
async fn a_fork_bomb_is_contained_and_ended_by_the_timeout() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: as another user the process limit counts that user's processes");
        return;
    }
    let host = host();
    let limits = Limits {
        max_processes: 64,
        ..Limits::default()
    };
    let bwrap = sandbox(&host, limits).await;
    // The shell starts its `sleep` before the bomb, so it never has to fork once the limit
    // is reached (it would give up with exit code 2 before the timeout on a busy machine);
    // `wait` keeps it there until the timeout.
    let script = "sleep 60 & b() { b | b & }; b; wait # bosun-fork-bomb-marker";
    let mut inv = sh(&host, script);
    inv.timeout = Duration::from_secs(3);
    let done = bwrap.run(inv).await.unwrap();
    assert_eq!(done.exit, Exit::TimedOut);
    assert!(done.output.contains("Cannot fork"), "the limit held");
    assert!(
        all_gone("bosun-fork-bomb-marker").await,
        "the bomb outlived the run"
    );
    // The host still forks.
    let out = std::process::Command::new("true").status().unwrap();
    assert!(out.success());
}

#[tokio::test]
async fn writing_past_the_file_size_limit_fails() {
    let host = host();
    let limits = Limits {
        max_file_size: 1 << 20,
        ..Limits::default()
    };
    let bwrap = sandbox(&host, limits).await;
    let script = "head -c 3000000 /dev/zero > big; echo rc=$?";
    let done = bwrap.run(sh(&host, script)).await.unwrap();
    assert!(!done.output.contains("rc=0"), "{}", done.output);
    let size = std::fs::metadata(host.job.join("big")).unwrap().len();
    assert!(size <= 1 << 20, "{size} bytes written");
}

#[tokio::test]
async fn a_missing_bwrap_is_a_clear_error() {
    let config = BwrapConfig {
        bwrap: "/nonexistent/bwrap".into(),
        ..BwrapConfig::default()
    };
    let err = format!("{:#}", Bwrap::ready(config).await.unwrap_err());
    assert!(err.contains("apt-get install bubblewrap"), "{err}");
    assert!(err.contains("BOSUN_SANDBOX=none"), "{err}");
    assert!(err.contains("/nonexistent/bwrap"), "{err}");
}

#[test]
fn own_tree_hands_over_a_tree_without_following_symlinks() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: chown to another user needs root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    std::fs::write(&outside, "root's").unwrap();
    let tree = tmp.path().join("tree");
    std::fs::create_dir_all(tree.join("a/b")).unwrap();
    std::fs::write(tree.join("a/b/f"), "x").unwrap();
    std::os::unix::fs::symlink(&outside, tree.join("a/link")).unwrap();
    std::os::unix::fs::symlink(tmp.path(), tree.join("dirlink")).unwrap();
    own_tree(&tree, 65534, 65533).unwrap();
    for p in ["", "a", "a/b", "a/b/f", "a/link", "dirlink"] {
        let meta = std::fs::symlink_metadata(tree.join(p)).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (65534, 65533), "{p}");
    }
    let meta = std::fs::metadata(&outside).unwrap();
    assert_eq!(meta.uid(), 0, "the symlink's target was not touched");
    assert_eq!(std::fs::metadata(tmp.path()).unwrap().uid(), 0);
}
