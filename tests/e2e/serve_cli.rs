//! `bosun serve` as a user runs it: settings errors are one line naming the setting, and a
//! flag beats the environment, which beats the file.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_bosun");

fn serve(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = Command::new(BIN);
    cmd.arg("serve").args(args).env_clear();
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn one_line(stderr: &str) -> &str {
    assert_eq!(stderr.lines().count(), 1, "one line, got: {stderr}");
    stderr.trim_end()
}

#[test]
fn missing_required_settings_are_named_in_one_line() {
    let (code, err) = serve(&[], &[]);
    assert_eq!(code, 2);
    assert_eq!(
        one_line(&err),
        "bosun: BOSUN_GITHUB_APP_ID (--github-app-id): required setting is missing"
    );

    let (code, err) = serve(
        &[
            "--github-app-id",
            "1",
            "--github-app-key-file",
            "/nonexistent.pem",
        ],
        &[],
    );
    assert_eq!(code, 2);
    assert!(
        one_line(&err).starts_with(
            "bosun: BOSUN_GITHUB_APP_KEY_FILE (--github-app-key-file): cannot read /nonexistent.pem"
        ),
        "{err}"
    );

    let (code, err) = serve(
        &[
            "--github-app-id",
            "1",
            "--github-app-key-file",
            crate::support::KEY_FILE,
        ],
        &[],
    );
    assert_eq!(code, 2);
    assert!(
        one_line(&err).starts_with("bosun: BOSUN_GITHUB_WEBHOOK_SECRET"),
        "{err}"
    );

    let (code, err) = serve(&["--config", "/nonexistent.toml"], &[]);
    assert_eq!(code, 2);
    assert!(
        one_line(&err).starts_with("bosun: --config /nonexistent.toml: cannot read"),
        "{err}"
    );
}

#[test]
fn flag_beats_env_beats_file_in_the_real_binary() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bosun.toml");
    std::fs::write(
        &file,
        format!(
            "listen = \"from-file\"\ngithub_app_id = 1\ngithub_app_key_file = \"{}\"\ngithub_webhook_secret = \"s\"\n",
            crate::support::KEY_FILE
        ),
    )
    .unwrap();
    let file = file.to_str().unwrap();
    let (_, err) = serve(
        &["--config", file, "--listen", "from-flag"],
        &[("BOSUN_LISTEN", "from-env")],
    );
    assert!(err.contains("`from-flag`"), "{err}");
    let (_, err) = serve(&["--config", file], &[("BOSUN_LISTEN", "from-env")]);
    assert!(err.contains("`from-env`"), "{err}");
    let (_, err) = serve(&["--config", file], &[]);
    assert_eq!(
        one_line(&err),
        "bosun: BOSUN_LISTEN (--listen): `from-file` is not an address like 127.0.0.1:4141"
    );
    let (_, err) = serve(&[], &[("BOSUN_CONFIG", file)]);
    assert!(
        err.contains("`from-file`"),
        "BOSUN_CONFIG names the file: {err}"
    );
}

#[test]
fn unknown_keys_in_the_file_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bosun.toml");
    std::fs::write(&file, "github_app_idd = 1\n").unwrap();
    let (code, err) = serve(&["--config", file.to_str().unwrap()], &[]);
    assert_eq!(code, 2);
    assert!(
        one_line(&err).ends_with("unknown key `github_app_idd`"),
        "{err}"
    );
}

#[test]
fn help_lists_every_setting_with_its_variable() {
    let out = Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for d in bosun::config::SETTINGS {
        assert!(
            help.contains(&format!("--{}", d.flag)),
            "help lacks --{}",
            d.flag
        );
        assert!(help.contains(d.env), "help lacks {}", d.env);
    }
}

#[test]
fn validate_prints_the_error_with_its_place_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("atlantis.yaml"),
        "version: 3\nprojects:\n- dri: envs/prod\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .arg("validate")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim_end(),
        "atlantis.yaml:3:3: projects[0].dri: unknown key (did you mean `dir`?)"
    );

    // bosun.yaml wins over atlantis.yaml.
    std::fs::write(
        dir.path().join("bosun.yaml"),
        "version: 3\nprojects:\n- name: prod\n  dir: envs/prod\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .arg("validate")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("bosun.yaml: ok, 1 project(s)"), "{text}");

    let out = Command::new(BIN)
        .args(["validate", "atlantis.yaml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));

    // BOSUN_REPO_CONFIG_FILE names the file serve reads: validate checks that one.
    let out = Command::new(BIN)
        .arg("validate")
        .env("BOSUN_REPO_CONFIG_FILE", "atlantis.yaml")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("atlantis.yaml:3:3:"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn serve_refuses_to_start_when_the_sandbox_does_not_work() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let args = [
        "--github-app-id",
        "1",
        "--github-app-key-file",
        crate::support::KEY_FILE,
        "--github-webhook-secret",
        "s",
        "--github-app-slug",
        "bosun",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data.to_str().unwrap(),
        "--sandbox",
        "bwrap",
        "--sandbox-bwrap",
        "/nonexistent/bwrap",
    ];
    let (code, err) = serve(&args, &[]);
    assert_eq!(code, 1, "{err}");
    let line = err
        .lines()
        .find(|l| l.starts_with("bosun: "))
        .unwrap_or_else(|| panic!("no error line in: {err}"));
    for part in [
        "BOSUN_SANDBOX=bwrap",
        "apt-get install bubblewrap",
        "user namespaces",
        "BOSUN_SANDBOX=none",
        "/nonexistent/bwrap",
    ] {
        assert!(line.contains(part), "{part} in: {line}");
    }
    // Nothing was started: no store was made.
    assert!(!data.join("bosun.db").exists());
}

#[test]
fn validate_server_checks_a_repos_yaml_and_names_the_place_of_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("repos.yaml");
    std::fs::write(
        &good,
        "repos:\n- id: /.*/\n  apply_requirements: [approved]\n- id: acme/infra\n  \
         workflow: custom\nworkflows:\n  custom: ~\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["validate", "--server", good.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .ends_with("repos.yaml: ok, 2 repos entries, 1 workflow(s)\n"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "repos:\n- id: acme/infra\n  allowed_overrides: [everything]\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["validate", "--server", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.trim_end().ends_with(
            "bad.yaml:3:23: repos[0].allowed_overrides[0]: `everything` is not a key a repo may be \
             allowed to set; use apply_requirements, workflow, delete_source_branch_on_merge, \
             repo_locks, plan_requirements, import_requirements, autodiscover, silence_pr_comments"
        ),
        "{err}"
    );
    // serve refuses to start on it, naming the setting and the place.
    let (code, stderr) = serve(
        &[
            "--server-config",
            bad.to_str().unwrap(),
            "--github-app-id",
            "1",
            "--github-app-key-file",
            crate::support::KEY_FILE,
            "--github-webhook-secret",
            "s3cret-s3cret-s3cret",
        ],
        &[],
    );
    assert_ne!(code, 0);
    assert!(
        stderr.contains("BOSUN_SERVER_CONFIG (--server-config): ")
            && stderr.contains("bad.yaml:3:23: repos[0].allowed_overrides[0]"),
        "{stderr}"
    );
}
