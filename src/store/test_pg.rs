//! A real PostgreSQL server for tests, one per test process: Debian's PostgreSQL
//! (`/usr/lib/postgresql/<major>/bin`, or `BOSUN_TEST_PG_BIN`), started in a temp dir on
//! 127.0.0.1 and a free port, as the `postgres` user when the tests run as root (initdb refuses
//! root), with `fsync=off`; [`fresh_database`] gives each test an empty database. The server
//! is stopped at exit (an `atexit` hook), and a watchdog process stops it and removes its dir
//! if the test process dies without exiting. Without the binaries, asking for a database
//! fails, saying what to install: tests that need PostgreSQL never skip.
//!
//! Shared by the store's unit tests and the end-to-end tests (`#[path]` from
//! `tests/e2e/support`); it uses nothing of bosun's.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use sqlx::Connection as _;

/// The test process's PostgreSQL server.
struct Server {
    port: u16,
}

static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
static POSTMASTER: AtomicI32 = AtomicI32::new(0);
static DURABLE: AtomicBool = AtomicBool::new(false);

/// Makes the server this process starts commit durably (`fsync`, `synchronous_commit` and full
/// page writes on, PostgreSQL's defaults) instead of with `fsync=off`: for the intake
/// benchmark. Takes effect only before the first [`fresh_database`].
#[allow(dead_code)]
pub fn durable() {
    DURABLE.store(true, Ordering::SeqCst);
}

/// A new, empty database on the server; its URL.
pub async fn fresh_database() -> String {
    let server = match SERVER.get_or_init(start_server) {
        Ok(server) => server,
        Err(e) => panic!("{e}"),
    };
    static N: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "t{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let admin = format!("postgres://bosun@127.0.0.1:{}/postgres", server.port);
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .expect("connecting to the test PostgreSQL server");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("creating a test database");
    format!("postgres://bosun@127.0.0.1:{}/{name}", server.port)
}

/// `BOSUN_TEST_PG_BIN`, else Debian's newest `/usr/lib/postgresql/<major>/bin`.
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("BOSUN_TEST_PG_BIN") {
        return PathBuf::from(dir);
    }
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .max();
    match newest {
        Some(major) => PathBuf::from(format!("/usr/lib/postgresql/{major}/bin")),
        None => PathBuf::from("/usr/lib/postgresql/15/bin"),
    }
}

fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// `bin/<tool> args`, as the `postgres` user when this process is root.
fn pg_command(tool: &str) -> Command {
    let path = bin_dir().join(tool);
    if running_as_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(path);
        c
    } else {
        Command::new(path)
    }
}

fn run(mut command: Command, what: &str) -> Result<(), String> {
    let out = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

extern "C" fn stop_server_at_exit() {
    let pid = POSTMASTER.load(Ordering::SeqCst);
    if pid > 0 {
        // SIGQUIT: PostgreSQL's immediate shutdown; the databases are throwaway.
        // SAFETY: kill has no memory preconditions.
        unsafe {
            libc::kill(pid, libc::SIGQUIT);
        }
    }
}

/// Fails, saying what to install, unless `bin` holds initdb and pg_ctl.
pub fn check_binaries(bin: &Path) -> Result<(), String> {
    if bin.join("initdb").is_file() && bin.join("pg_ctl").is_file() {
        Ok(())
    } else {
        Err(format!(
            "the PostgreSQL store tests need PostgreSQL's initdb and pg_ctl in {} (Debian's \
             postgresql package; or set BOSUN_TEST_PG_BIN to their directory)",
            bin.display()
        ))
    }
}

fn start_server() -> Result<Server, String> {
    let bin = bin_dir();
    check_binaries(&bin)?;
    let root = tempfile::Builder::new()
        .prefix("bosun-test-pg-")
        .tempdir()
        .map_err(|e| format!("making the PostgreSQL temp dir: {e}"))?
        .keep();
    if running_as_root() {
        let mut chown = Command::new("chown");
        chown.arg("postgres:postgres").arg(&root);
        run(chown, "handing the temp dir to the postgres user")?;
    }
    let data = root.join("data");
    let mut initdb = pg_command("initdb");
    initdb
        .arg("-D")
        .arg(&data)
        .args(["-A", "trust", "-U", "bosun", "-E", "UTF8", "--locale=C"])
        .arg("--no-sync");
    run(initdb, "initdb")?;
    // The free port may be taken between finding it and the server binding it (other test
    // processes run beside this one): a few tries.
    let mut tries = 0;
    let port = loop {
        let port = free_port()?;
        let sync = if DURABLE.load(Ordering::SeqCst) {
            "-c fsync=on -c synchronous_commit=on -c full_page_writes=on"
        } else {
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        };
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {} {sync} -c max_connections=300",
            root.display()
        );
        let mut pg_ctl = pg_command("pg_ctl");
        pg_ctl
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(root.join("server.log"))
            .args(["-w", "-t", "60", "-o", &options, "start"]);
        match run(pg_ctl, "pg_ctl start") {
            Ok(()) => break port,
            Err(e) if tries >= 2 => {
                let log = std::fs::read_to_string(root.join("server.log")).unwrap_or_default();
                return Err(format!("{e}\nserver log:\n{log}"));
            }
            Err(_) => tries += 1,
        }
    };
    let pid = postmaster_pid(&data)?;
    POSTMASTER.store(pid, Ordering::SeqCst);
    // SAFETY: registers a plain extern "C" function.
    unsafe {
        libc::atexit(stop_server_at_exit);
    }
    watchdog(pid, &root)?;
    Ok(Server { port })
}

/// The postmaster's pid from its pid file (bounded wait).
fn postmaster_pid(data: &Path) -> Result<i32, String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(text) = std::fs::read_to_string(data.join("postmaster.pid"))
            && let Some(pid) = text.lines().next().and_then(|l| l.trim().parse().ok())
        {
            return Ok(pid);
        }
        if Instant::now() > deadline {
            return Err("PostgreSQL started but wrote no postmaster.pid".to_owned());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A process in its own session that outlives a test process killed without exiting, then
/// stops the server and removes its dir.
fn watchdog(postmaster: i32, root: &Path) -> Result<(), String> {
    let script = "while kill -0 \"$1\" 2>/dev/null; do sleep 1; done; \
                  kill -QUIT \"$2\" 2>/dev/null; \
                  i=0; while kill -0 \"$2\" 2>/dev/null && [ $i -lt 30 ]; do sleep 1; i=$((i+1)); done; \
                  kill -KILL \"$2\" 2>/dev/null; rm -rf \"$3\"";
    Command::new("setsid")
        .args(["sh", "-c", script, "sh"])
        .arg(std::process::id().to_string())
        .arg(postmaster.to_string())
        .arg(root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting the PostgreSQL watchdog: {e}"))?;
    Ok(())
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| format!("finding a free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("finding a free port: {e}"))
}
