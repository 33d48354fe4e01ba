//! A repo config read as Atlantis reads it, end to end.

use crate::support::TestContext;
use crate::support::prs::module;

#[tokio::test]
async fn a_glob_dir_plans_one_project_per_terraform_dir_it_matches() {
    let ctx = TestContext::start().await;
    let config = "version: 3\nprojects:\n- name: all\n  dir: modules/*\n";
    let (pr, _) = ctx
        .open_pr(
            "globs",
            &[
                ("atlantis.yaml", config),
                ("modules/a/main.tf", &module(&ctx.state_file("a"), &["a"])),
                ("modules/b/main.tf", &module(&ctx.state_file("b"), &["b"])),
                ("modules/c/readme.md", "# not a project\n"),
            ],
        )
        .await;
    ctx.settle().await;
    assert_eq!(
        ctx.check_names(pr),
        [
            "bosun/plan",
            "bosun/plan: modules/a",
            "bosun/plan: modules/b"
        ],
        "one unnamed project per Terraform dir the glob matches"
    );
    ctx.finish().await;
}

#[tokio::test]
async fn atlantis_yml_is_refused_with_a_comment_saying_to_rename_it() {
    let ctx = TestContext::start().await;
    let (pr, _) = ctx
        .open_pr(
            "yml",
            &[
                ("atlantis.yml", "version: 3\nprojects:\n- dir: a\n"),
                ("a/main.tf", &module(&ctx.state_file("a"), &["a"])),
            ],
        )
        .await;
    ctx.settle().await;
    let body = ctx.bot_comment(pr).body;
    assert!(
        body.contains("found atlantis.yml as config file; rename using the .yaml extension"),
        "{body}"
    );
    assert_eq!(
        ctx.check(pr, "bosun/plan").conclusion.as_deref(),
        Some("failure")
    );
    ctx.finish().await;
}

#[tokio::test]
async fn the_repo_config_file_setting_names_the_one_file_read() {
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("repo_config_file", "ci/terraform.yaml");
    ctx.start_bosun().await;
    let (pr, _) = ctx
        .open_pr(
            "config-file",
            &[
                ("ci/terraform.yaml", "version: 3\nprojects:\n- dir: a\n"),
                ("atlantis.yaml", "version: 3\nprojects:\n- dir: b\n"),
                ("a/main.tf", &module(&ctx.state_file("a"), &["a"])),
                ("b/main.tf", &module(&ctx.state_file("b"), &["b"])),
            ],
        )
        .await;
    ctx.settle().await;
    assert_eq!(
        ctx.check_names(pr),
        ["bosun/plan", "bosun/plan: a"],
        "the summary and the projects of the file the setting names, not of atlantis.yaml"
    );
    ctx.finish().await;
}

#[tokio::test]
async fn a_terraform_version_that_cannot_be_had_fails_that_projects_plan() {
    let ctx = TestContext::start().await;
    let config = "version: 3\nprojects:\n- dir: a\n  terraform_version: v1\n\
                  - dir: b\n  terraform_version: 0.11.0\n";
    let (pr, _) = ctx
        .open_pr(
            "tf-version",
            &[
                ("atlantis.yaml", config),
                ("a/main.tf", &module(&ctx.state_file("a"), &["a"])),
                ("b/main.tf", &module(&ctx.state_file("b"), &["b"])),
            ],
        )
        .await;
    ctx.settle().await;
    assert_eq!(
        ctx.check(pr, "bosun/plan: a").conclusion.as_deref(),
        Some("success"),
        "v1 is the test Terraform's major version"
    );
    assert_eq!(
        ctx.check(pr, "bosun/plan: b").conclusion.as_deref(),
        Some("failure")
    );
    let body = ctx.bot_comment(pr).body;
    // The server's Terraform is not 0.11.0, and the download source (nothing, in tests)
    // cannot give it: no silent fall back to the server's.
    assert!(
        body.contains(
            "Terraform 0.11.0 cannot be had: terraform_0.11.0_SHA256SUMS: the download source \
             could not be reached (cannot connect)"
        ),
        "{body}"
    );
    ctx.finish().await;
}
