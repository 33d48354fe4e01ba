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
