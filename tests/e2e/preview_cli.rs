//! `bosun preview`: the real binary plans a local repository and prints the comment.

use std::path::Path;
use std::process::Command;

use crate::support::{terraform_bin, terraform_readable_paths};

const BIN: &str = env!("CARGO_BIN_EXE_bosun");

fn preview(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .arg("preview")
        .args(args)
        .env("BOSUN_TERRAFORM_BIN", terraform_bin())
        .env(
            "BOSUN_SANDBOX_READABLE_PATHS",
            terraform_readable_paths().join(","),
        )
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn preview_all_plans_every_project_of_the_example() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/multi-project");
    let (ok, out, err) = preview(&["--repo", example, "--all"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("<!-- bosun:plan"), "{out}");
    for row in ["| `prod` |", "| `staging` |", "| `network` |"] {
        assert!(out.contains(row), "{row} in {out}");
    }
    assert!(
        out.contains("Plan: 4 to add, 0 to change, 0 to destroy."),
        "{out}"
    );
    assert!(
        !Path::new(example).join("envs/prod/.terraform").exists()
            && !Path::new(example).join("envs/prod/.bosun.tfplan").exists(),
        "the example is left as it was"
    );
}

#[test]
fn preview_of_a_branch_plans_only_what_it_changes() {
    let repo = tempfile::tempdir().unwrap();
    let dir = repo.path();
    git(dir, &["init", "--quiet", "-b", "main"]);
    for p in ["a", "b"] {
        std::fs::create_dir_all(dir.join(p)).unwrap();
        std::fs::write(
            dir.join(p).join("main.tf"),
            format!("resource \"terraform_data\" \"{p}\" {{}}\n"),
        )
        .unwrap();
    }
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "--quiet", "-m", "base"]);
    git(dir, &["checkout", "--quiet", "-b", "change"]);
    std::fs::write(
        dir.join("b/main.tf"),
        "resource \"terraform_data\" \"b\" {}\nresource \"terraform_data\" \"b2\" {}\n",
    )
    .unwrap();
    git(dir, &["commit", "--quiet", "-am", "change b"]);

    let (ok, out, err) = preview(&["--repo", dir.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.contains("#### `b`"), "{out}");
    assert!(!out.contains("#### `a`"), "a did not change: {out}");
    assert!(out.contains("Plan: 2 to add"), "{out}");

    let (ok, _, err) = preview(&["--repo", dir.to_str().unwrap(), "--base", "nope"]);
    assert!(!ok);
    assert!(err.contains("nope"), "{err}");
}

#[test]
fn preview_reads_the_repo_config_where_bosun_repo_config_file_says() {
    let repo = tempfile::tempdir().unwrap();
    let dir = repo.path();
    git(dir, &["init", "--quiet", "-b", "main"]);
    std::fs::create_dir_all(dir.join("app")).unwrap();
    std::fs::create_dir_all(dir.join("infrastructure")).unwrap();
    std::fs::write(
        dir.join("app/main.tf"),
        "resource \"terraform_data\" \"a\" {}\n",
    )
    .unwrap();
    // Dirs in the file are relative to the repository's root, as in Atlantis.
    std::fs::write(
        dir.join("infrastructure/custom-name.yaml"),
        "version: 3\nprojects:\n- name: application\n  dir: app\n",
    )
    .unwrap();
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "--quiet", "-m", "all"]);

    let path = dir.to_str().unwrap();
    let (ok, out, err) = preview(&["--repo", path, "--all"]);
    assert!(ok, "{err}");
    assert!(out.contains("#### `app`"), "no config read: {out}");

    let (ok, out, err) = preview(&[
        "--repo",
        path,
        "--all",
        "--repo-config-file",
        "infrastructure/custom-name.yaml",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("#### `application`"), "{out}");
}
