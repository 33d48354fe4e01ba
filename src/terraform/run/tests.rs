use super::*;

fn sh(script: &str) -> Invocation {
    Invocation {
        program: "/bin/sh".into(),
        args: vec!["-c".into(), script.into()],
        cwd: std::env::temp_dir(),
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        timeout: Duration::from_secs(30),
        output_cap: 1024 * 1024,
        writable: Vec::new(),
        readable: Vec::new(),
        network: true,
    }
}

/// Whether a process is gone: no longer in /proc, or a zombie nobody has reaped yet.
fn gone(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// Waits (bounded) until the process is gone.
async fn wait_gone(pid: &str) -> bool {
    for _ in 0..500 {
        if gone(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[tokio::test]
async fn output_of_both_streams_is_kept() {
    let done = Direct::default()
        .run(sh("echo one; echo two >&2; echo three"))
        .await
        .unwrap();
    assert_eq!(done.exit, Exit::Code(0));
    assert!(done.exit.success());
    assert!(!done.truncated);
    // Across the two pipes the order is the order bosun read them in, which a test cannot
    // pin down; within each stream it is kept.
    let mut lines: Vec<&str> = done.output.lines().collect();
    lines.retain(|l| *l != "two");
    assert_eq!(lines, ["one", "three"], "{}", done.output);
    assert_eq!(done.output.lines().filter(|l| *l == "two").count(), 1);
}

#[tokio::test]
async fn exit_code_and_signal_are_reported() {
    let done = Direct::default().run(sh("exit 3")).await.unwrap();
    assert_eq!(done.exit, Exit::Code(3));
    assert!(!done.exit.success());
    let done = Direct::default().run(sh("kill -TERM $$")).await.unwrap();
    assert_eq!(done.exit, Exit::Signal(15));
}

#[tokio::test]
async fn output_is_capped_but_fully_drained() {
    let mut inv = sh("yes | head -c 10000000; echo done >&2");
    inv.output_cap = 1000;
    let done = Direct::default().run(inv).await.unwrap();
    // `head` finished, so the child was never blocked on a full pipe.
    assert_eq!(done.exit, Exit::Code(0));
    assert!(done.truncated);
    assert!(done.output.starts_with("y\ny\n"));
    assert!(done.output.ends_with("\n… output cut at 1000 bytes\n"));
    assert!(done.output.len() < 1100, "{}", done.output.len());
}

#[tokio::test]
async fn a_cut_through_a_character_leaves_no_replacement_char() {
    let mut inv = sh("printf 'ééééé'");
    inv.output_cap = 3;
    let done = Direct::default().run(inv).await.unwrap();
    assert_eq!(done.output, "é\n… output cut at 3 bytes\n");
}

#[tokio::test]
async fn timeout_kills_the_whole_process_tree() {
    let mut inv = sh("sleep 100 & echo $!; echo $$; exec sleep 100");
    inv.timeout = Duration::from_millis(500);
    let done = Direct::default().run(inv).await.unwrap();
    assert_eq!(done.exit, Exit::TimedOut);
    assert!(done.elapsed < Duration::from_secs(20), "{:?}", done.elapsed);
    let pids: Vec<&str> = done.output.lines().collect();
    assert_eq!(pids.len(), 2, "{}", done.output);
    for pid in pids {
        assert!(wait_gone(pid).await, "process {pid} survived");
    }
}

#[tokio::test]
async fn a_process_ignoring_sigint_is_killed_after_the_grace() {
    let mut inv = sh("trap '' INT; echo $$; sleep 100; sleep 100");
    inv.timeout = Duration::from_millis(300);
    let runner = Direct {
        grace: Duration::from_millis(300),
    };
    let done = runner.run(inv).await.unwrap();
    assert_eq!(done.exit, Exit::TimedOut);
    assert!(done.elapsed < Duration::from_secs(20), "{:?}", done.elapsed);
    assert!(wait_gone(done.output.trim()).await);
}

#[tokio::test]
async fn background_children_do_not_outlive_a_clean_exit() {
    let done = Direct::default()
        .run(sh("sleep 100 & echo $!"))
        .await
        .unwrap();
    assert_eq!(done.exit, Exit::Code(0));
    assert!(done.elapsed < Duration::from_secs(20), "{:?}", done.elapsed);
    assert!(wait_gone(done.output.trim()).await);
}

#[tokio::test]
async fn environment_is_exactly_the_given_one() {
    // Variables of the test process's own environment (HOME is always set) must not leak.
    assert!(std::env::var_os("HOME").is_some());
    let mut inv = sh("env");
    inv.program = "/usr/bin/env".into();
    inv.args = vec![];
    inv.env = vec![("ONLY".into(), "this".into())];
    let done = Direct::default().run(inv).await.unwrap();
    assert_eq!(done.output, "ONLY=this\n");
}

#[tokio::test]
async fn stdin_is_empty() {
    let done = Direct::default().run(sh("cat; echo end")).await.unwrap();
    assert_eq!(done.output, "end\n");
}

#[tokio::test]
async fn a_missing_program_is_named_in_the_error() {
    let mut inv = sh("");
    inv.program = "/nonexistent/terraform-xyz".into();
    let err = Direct::default().run(inv).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "program not found: /nonexistent/terraform-xyz"
    );
}

#[tokio::test]
async fn a_missing_working_directory_is_named_in_the_error() {
    let mut inv = sh("true");
    inv.cwd = "/nonexistent/dir-xyz".into();
    let err = Direct::default().run(inv).await.unwrap_err();
    assert!(err.to_string().contains("/nonexistent/dir-xyz"), "{err}");
}

#[test]
fn exit_displays_for_messages() {
    assert_eq!(Exit::Code(1).to_string(), "exit code 1");
    assert_eq!(Exit::Signal(9).to_string(), "killed by signal 9");
    assert_eq!(Exit::TimedOut.to_string(), "timed out");
}
