use crate::ids::{PrNumber, Sha};
use proptest::prelude::*;

use super::plan::plan_comment_with;
use super::split::Limits;
use super::*;
use crate::command::CommandError;
use crate::plan::{Action, Outcome, PlanSummary, ProjectPlan, ResourceChange, Step, Target};

fn target(name: Option<&str>, dir: &str, workspace: &str) -> Target {
    Target {
        dir: dir.into(),
        workspace: workspace.into(),
        name: name.map(str::to_owned),
    }
}

fn planned(target: Target, changes: &[(&str, Action)], text: &str) -> ProjectPlan {
    let count = |a: Action| changes.iter().filter(|(_, x)| *x == a).count() as u32;
    let (add, change, destroy) = (
        count(Action::Create) + count(Action::Replace),
        count(Action::Update),
        count(Action::Delete) + count(Action::Replace),
    );
    let line = if changes.is_empty() {
        "No changes. Your infrastructure matches the configuration.".to_owned()
    } else {
        format!("Plan: {add} to add, {change} to change, {destroy} to destroy.")
    };
    ProjectPlan {
        target,
        outcome: Outcome::Planned {
            summary: PlanSummary {
                add,
                change,
                destroy,
                import: 0,
                changes: changes
                    .iter()
                    .map(|(a, action)| ResourceChange {
                        address: (*a).into(),
                        action: *action,
                    })
                    .collect(),
                line,
                output_changes: false,
                digest: String::new(),
            },
            text: text.into(),
        },
    }
}

/// `n` created `terraform_data` resources, as Terraform 1.15 prints them.
fn created(name: &str, n: usize) -> String {
    let mut out = String::from("Terraform will perform the following actions:\n\n");
    for i in 0..n {
        out.push_str(&format!(
            "  # terraform_data.{name}[{i}] will be created\n  + resource \"terraform_data\" \"{name}\" {{\n      + id     = (known after apply)\n      + input  = {{\n          + name = \"{name}-{i}\"\n          + size = \"small\"\n        }}\n      + output = (known after apply)\n    }}\n\n"
        ));
    }
    out.push_str(&format!("Plan: {n} to add, 0 to change, 0 to destroy.\n"));
    out
}

fn created_plan(target: Target, name: &str, n: usize) -> ProjectPlan {
    let addresses: Vec<String> = (0..n)
        .map(|i| format!("terraform_data.{name}[{i}]"))
        .collect();
    let changes: Vec<(&str, Action)> = addresses
        .iter()
        .map(|a| (a.as_str(), Action::Create))
        .collect();
    planned(target, &changes, &created(name, n))
}

const UPDATE_AND_CREATE: &str = r#"Terraform will perform the following actions:

  # terraform_data.a will be updated in-place
  ~ resource "terraform_data" "a" {
        id     = "daf41b4b-0ea2-38bc-940e-434bb48ef612"
      ~ input  = "x" -> "x2"
      ~ output = "x" -> (known after apply)
    }

  # terraform_data.d will be created
  + resource "terraform_data" "d" {
      + id     = (known after apply)
      + input  = "new"
      + output = (known after apply)
    }

Plan: 1 to add, 1 to change, 0 to destroy.

Changes to Outputs:
  ~ o = "x" -> (known after apply)
"#;

const REPLACE_AND_DESTROY: &str = r#"Terraform will perform the following actions:

  # terraform_data.b must be replaced
-/+ resource "terraform_data" "b" {
      ~ id               = "6c34619d-fa16-2eff-b11b-3b70f74e0a7f" -> (known after apply)
      ~ output           = "y" -> (known after apply)
      ~ triggers_replace = [
          ~ "v1" -> "v2",
        ] # forces replacement
        # (1 unchanged attribute hidden)
    }

  # terraform_data.c will be destroyed
  # (because terraform_data.c is not in configuration)
  - resource "terraform_data" "c" {
      - id     = "68ef2120-fb5f-df2f-0029-cacf89058264" -> null
      - input  = "c" -> null
      - output = "c" -> null
    }

Plan: 1 to add, 0 to change, 2 to destroy.
"#;

const INIT_ERROR: &str = r#"Initializing the backend...
Error: Terraform encountered problems during initialisation, including problems
with the configuration, described below.

The Terraform configuration must be valid before initialization so that
Terraform can determine which modules and providers need to be installed.


Error: Unclosed configuration block

  on main.tf line 1, in resource "terraform_data" "a":
   1: resource "terraform_data" "a" {

There is no closing brace for this block before the end of the file. This may
be caused by incorrect brace nesting elsewhere in this file.
"#;

fn comment(projects: &[ProjectPlan]) -> Vec<String> {
    plan_comment(&PlanComment {
        hooks: &[],
        command_name: "bosun",
        pr: PrNumber(42),
        head_sha: &Sha::new("3ae525b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6"),
        projects,
        note: Some("Planned by `bosun plan` from @alice"),
        logs: &[],
        policies: &[],
    })
}

fn one(projects: &[ProjectPlan]) -> String {
    let parts = comment(projects);
    assert_eq!(parts.len(), 1);
    for part in &parts {
        assert_balanced(part);
    }
    parts.into_iter().next().unwrap_or_default()
}

/// Fails unless every code fence closes and `<details>` outside code blocks balance.
#[track_caller]
fn assert_balanced(body: &str) {
    if let Err(e) = balanced(body) {
        panic!("{e}\n---\n{body}");
    }
}

fn balanced(body: &str) -> Result<(), String> {
    let mut fence: Option<usize> = None;
    let mut details: i64 = 0;
    for (i, line) in body.lines().enumerate() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let ticks = line
            .trim_start_matches(' ')
            .chars()
            .take_while(|&c| c == '`')
            .count();
        match fence {
            Some(n) => {
                if indent <= 3 && ticks >= n && line.trim().chars().all(|c| c == '`') {
                    fence = None;
                }
            }
            None if indent <= 3 && ticks >= 3 => fence = Some(ticks),
            None => {
                details += line.matches("<details>").count() as i64;
                details -= line.matches("</details>").count() as i64;
                if details < 0 {
                    return Err(format!("line {i}: </details> without <details>"));
                }
            }
        }
    }
    match (fence, details) {
        (None, 0) => Ok(()),
        (Some(n), _) => Err(format!("a fence of {n} is left open")),
        (_, d) => Err(format!("{d} <details> left open")),
    }
}

#[test]
fn markers_round_trip() {
    let m = plan_marker(PrNumber(42), 2, 3);
    assert_eq!(m, "<!-- bosun:plan pr=42 part=2/3 -->");
    assert_eq!(parse_marker(&format!("{m}\nbody")), Some((42, 2, 3)));
    assert_eq!(parse_marker("<!-- bosun:plan pr=42 part=4/3 -->"), None);
    assert_eq!(parse_marker("<!-- bosun:plan pr=x part=1/1 -->"), None);
    assert_eq!(parse_marker("hello"), None);
    assert_eq!(marker_kind(&format!("{m}\n")), Some("plan"));
    assert_eq!(
        marker_kind("<!-- bosun:command-error -->\nx"),
        Some("command-error")
    );
    assert_eq!(marker_kind("<!-- bosun: -->"), None);
    assert_eq!(marker_kind("<!-- other -->"), None);
}

#[test]
fn code_spans_survive_backticks_and_pipes() {
    assert_eq!(code_span("a"), "`a`");
    assert_eq!(code_span("a`b"), "``a`b``");
    assert_eq!(code_span("`a"), "`` `a ``");
    assert_eq!(cell("a|b"), "`a\\|b`");
    assert_eq!(code_span("a\nb"), "`a b`");
}

#[test]
fn one_project_with_changes() {
    let p = planned(
        target(None, "envs/prod", "default"),
        &[
            ("terraform_data.a", Action::Update),
            ("terraform_data.d", Action::Create),
        ],
        UPDATE_AND_CREATE,
    );
    insta::assert_snapshot!(one(&[p]));
}

#[test]
fn two_projects_call_out_destroys_above_the_fold() {
    let create = created_plan(target(Some("web"), "envs/web", "default"), "web", 3);
    let replace = planned(
        target(None, "envs/legacy", "staging"),
        &[
            ("terraform_data.b", Action::Replace),
            ("terraform_data.c", Action::Delete),
        ],
        REPLACE_AND_DESTROY,
    );
    let body = one(&[create, replace]);
    let warning = body.find("[!WARNING]").unwrap_or(usize::MAX);
    let fold = body.find("<details>").unwrap_or(0);
    assert!(warning < fold, "the call-out comes before any fold");
    insta::assert_snapshot!(body);
}

#[test]
fn no_changes() {
    let p = planned(
        target(Some("prod"), "envs/prod", "default"),
        &[],
        "No changes. Your infrastructure matches the configuration.\n",
    );
    let body = one(&[p]);
    assert!(!body.contains("apply"), "nothing to apply:\n{body}");
    insta::assert_snapshot!(body);
}

#[test]
fn failed_init_shows_the_hcl_error() {
    let p = ProjectPlan {
        target: target(None, "envs/dev", "default"),
        outcome: Outcome::Failed {
            step: Step::Init,
            output: INIT_ERROR.into(),
        },
    };
    let ok = created_plan(target(None, "envs/prod", "default"), "web", 1);
    insta::assert_snapshot!(one(&[ok, p]));
}

#[test]
fn long_failure_output_folds_under_its_errors() {
    let output = format!("{}{INIT_ERROR}", "Initializing modules...\n".repeat(30));
    let p = ProjectPlan {
        target: target(None, "envs/dev", "default"),
        outcome: Outcome::Failed {
            step: Step::Init,
            output,
        },
    };
    let body = one(&[p]);
    let errors = body
        .find("- Error: Unclosed configuration block (`main.tf line 1`)")
        .unwrap_or(usize::MAX);
    assert!(errors < body.find("<details>").unwrap_or(0), "{body}");
}

#[test]
fn a_long_plan_folds() {
    let body = one(&[created_plan(target(None, ".", "default"), "web", 5)]);
    assert!(body.contains("<details><summary>Show plan</summary>"));
    insta::assert_snapshot!(body);
}

/// The first `n` lines of each part, for snapshots of big comments.
fn heads(parts: &[String], n: usize) -> String {
    let mut out = format!("{} parts\n", parts.len());
    for (i, part) in parts.iter().enumerate() {
        let lines: Vec<&str> = part.lines().collect();
        out.push_str(&format!(
            "\n===== part {} ({} chars, {} lines) =====\n",
            i + 1,
            part.chars().count(),
            lines.len()
        ));
        for line in lines.iter().take(n) {
            out.push_str(line);
            out.push('\n');
        }
        if lines.len() > n {
            out.push_str("[…]\n");
            for line in lines.iter().skip(lines.len().saturating_sub(12).max(n)) {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

#[track_caller]
fn assert_parts(parts: &[String]) {
    let m = parts.len();
    for (i, part) in parts.iter().enumerate() {
        let k = i + 1;
        assert!(
            len(part) < COMMENT_LIMIT,
            "part {k} has {} units",
            len(part)
        );
        assert!(part.chars().count() <= plan::PART_LIMIT, "part {k}");
        assert_eq!(parse_marker(part), Some((42, k as u32, m as u32)));
        assert_eq!(
            part.contains("_Continued from the previous comment._"),
            k > 1,
            "part {k}"
        );
        assert_eq!(
            part.contains("_Continued in the next comment._"),
            k < m,
            "part {k}"
        );
        assert_balanced(part);
    }
}

#[test]
fn a_plan_over_the_limit_is_split_across_comments() {
    // About 150,000 characters: three comments.
    let big = created_plan(target(Some("big"), "envs/big", "default"), "web", 500);
    let small = created_plan(target(Some("small"), "envs/small", "default"), "db", 1);
    let parts = comment(&[big, small]);
    assert!(parts.len() >= 3, "{}", parts.len());
    assert_parts(&parts);
    // Nothing is lost: every resource is in some part, the apply-all command in the last.
    let all = parts.concat();
    for i in 0..500 {
        assert!(
            all.contains(&format!("terraform_data.web[{i}] will")),
            "{i}"
        );
    }
    assert!(all.contains("terraform_data.db[0] will"));
    assert!(
        parts
            .last()
            .is_some_and(|p| p.contains("```\nbosun apply\n```"))
    );
    assert!(!all.contains("were cut"));
    insta::assert_snapshot!(heads(&parts, 80));
}

#[test]
fn a_giant_plan_is_cut_after_ten_comments() {
    let giant = created_plan(target(None, "envs/giant", "default"), "web", 4_000);
    let parts = comment(&[giant]);
    assert_eq!(parts.len(), plan::MAX_PARTS);
    assert_parts(&parts);
    let last = parts.last().cloned().unwrap_or_default();
    assert!(last.contains("more lines were cut"), "{last}");
    assert!(
        last.ends_with("```\nbosun apply\n```\n"),
        "the way to apply stays"
    );
    insta::assert_snapshot!(heads(&parts[9..], 10));
}

#[test]
fn check_output_for_each_outcome() {
    let changes = planned(
        target(None, "envs/legacy", "default"),
        &[
            ("terraform_data.b", Action::Replace),
            ("terraform_data.c", Action::Delete),
        ],
        REPLACE_AND_DESTROY,
    );
    let none = planned(target(None, ".", "default"), &[], "No changes.\n");
    let failed = ProjectPlan {
        target: target(None, ".", "default"),
        outcome: Outcome::Failed {
            step: Step::Init,
            output: INIT_ERROR.into(),
        },
    };
    insta::assert_debug_snapshot!([plan_check(&changes), plan_check(&none), plan_check(&failed)]);
}

#[test]
fn check_text_is_cut_to_the_limit() {
    let giant = created_plan(target(None, "envs/giant", "default"), "web", 4_000);
    let out = plan_check(&giant);
    assert_eq!(out.title, "4000 to add, 0 to change, 0 to destroy");
    let text = out.text.unwrap_or_default();
    assert!(len(&text) <= check::CHECK_BUDGET && len(&text) < CHECK_LIMIT);
    assert!(len(&out.summary) < CHECK_LIMIT);
    assert_balanced(&text);
    let last: Vec<&str> = text.lines().rev().take(2).collect();
    assert_eq!(last[0], "```");
    assert!(
        last[1].starts_with(" … ") && last[1].ends_with(" more lines; see the PR comment"),
        "{}",
        last[1]
    );
    // Cut between lines: the line before the notice is a whole plan line.
    let kept = text.lines().rev().nth(2).unwrap_or_default();
    assert!(
        created("web", 4_000)
            .lines()
            .any(|l| diff::diff_line(l) == kept)
    );
}

#[test]
fn replies() {
    use crate::command::{Command, CommandError, CommandKind};
    use crate::config::repo::ConfigError;
    let error = CommandError {
        message: "unknown command `plna`".into(),
        suggestion: Some("did you mean `plan`?".into()),
    };
    let config = ConfigError {
        file: "bosun.yaml".into(),
        line: 7,
        col: 5,
        key: "projects[1].dri".into(),
        message: "unknown key (did you mean `dir`?)".into(),
    };
    let cmd = Command {
        dirs: vec!["envs/prdo".into()],
        projects: vec!["wbe".into()],
        ..Command::new(CommandKind::Plan)
    };
    let known = [
        target(Some("web"), "envs/web", "default"),
        target(None, "envs/prod", "default"),
    ];
    let all = [
        reply::command_error("bosun", &error),
        reply::help("bosun"),
        reply::wrong_name("bosun", "terraform"),
        reply::version("0.1.0", "1.15.5"),
        reply::config_error(&config),
        reply::merge_conflict(&["envs/prod/main.tf".into(), "modules/net/vpc.tf".into()]),
        reply::internal_error("job 1234"),
        reply::no_projects("bosun", &cmd, &known),
        reply::no_projects(
            "bosun",
            &Command {
                dirs: vec![],
                projects: vec![],
                ..cmd.clone()
            },
            &[],
        ),
    ];
    for body in &all {
        assert!(marker_kind(body).is_some(), "{body}");
        assert_balanced(body);
    }
    insta::assert_snapshot!(all.join("\n=====\n"));
}

#[test]
fn the_closing_reply_lists_each_dir_with_its_workspaces_as_atlantis_does() {
    let released = [
        target(None, ".", "default"),
        target(None, ".", "new_workspace"),
        target(Some("app"), "envs/app", "default"),
        target(Some("app-2"), "envs/app", "default"),
    ];
    let body = reply::closed(&released);
    assert_eq!(marker_kind(&body), Some("closed"));
    insta::assert_snapshot!(body, @r"
    <!-- bosun:closed -->
    Locks and plans deleted for the projects and workspaces modified in this pull request:

    - dir: `.` workspaces: `default`, `new_workspace`
    - dir: `envs/app` workspace: `default`
    ");
    assert_eq!(marker_kind(&reply::automerging()), Some("automerge"));
}

#[test]
fn mentions_in_echoed_text_do_not_notify() {
    let error = CommandError {
        message: "unknown command `@org/admins`".into(),
        suggestion: None,
    };
    assert!(!reply::command_error("bosun", &error).contains("@org"));
}

fn plan_line() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("  + resource \"terraform_data\" \"x\" {".to_owned()),
        Just("      ~ input = \"a\" -> \"b\"".to_owned()),
        Just("-/+ resource \"terraform_data\" \"y\" {".to_owned()),
        Just("    }".to_owned()),
        Just("```".to_owned()),
        Just("</details>".to_owned()),
        Just("    ````` x".to_owned()),
        "[ -~]{0,120}",
        "\\PC{0,300}",
        "`{0,40}",
    ]
}

fn project(i: usize) -> impl Strategy<Value = ProjectPlan> {
    (
        proptest::collection::vec(plan_line(), 0..200),
        any::<bool>(),
        0usize..3,
        "[a-z`|@]{1,12}",
    )
        .prop_map(move |(lines, failed, n, name)| {
            let text = lines.join("\n");
            let t = target(Some(&name), &format!("dir{i}"), "default");
            if failed {
                ProjectPlan {
                    target: t,
                    outcome: Outcome::Failed {
                        step: Step::Plan,
                        output: text,
                    },
                }
            } else {
                let actions = [Action::Create, Action::Replace, Action::Delete];
                let changes: Vec<(&str, Action)> = actions
                    .iter()
                    .take(n)
                    .map(|a| ("terraform_data.x", *a))
                    .collect();
                planned(t, &changes, &text)
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_part_fits_and_is_balanced(
        projects in (0usize..6).prop_flat_map(|n| {
            (0..n).map(project).collect::<Vec<_>>()
        }),
        budget in 8_000usize..20_000,
        max_parts in 1usize..5,
    ) {
        let c = PlanComment {
            hooks: &[],
            command_name: "bosun",
            pr: PrNumber(42),
            head_sha: &Sha::new("abc"),
            projects: &projects,
            note: None,
            logs: &[],
            policies: &[],
        };
        let parts = plan_comment_with(&c, Limits { budget, max_parts });
        prop_assert!(!parts.is_empty() && parts.len() <= max_parts);
        for (i, part) in parts.iter().enumerate() {
            prop_assert!(len(part) <= budget + 300, "part {} has {}", i + 1, len(part));
            prop_assert_eq!(balanced(part), Ok(()), "{}", part);
            let marker = parse_marker(part).map(|(pr, k, _)| (pr, k));
            prop_assert_eq!(marker, Some((42, i as u32 + 1)));
        }
        for p in &projects {
            let check = plan_check(p);
            prop_assert!(len(&check.summary) < CHECK_LIMIT);
            if let Some(text) = &check.text {
                prop_assert!(len(text) < CHECK_LIMIT);
                prop_assert_eq!(balanced(text), Ok(()));
            }
        }
    }

    #[test]
    fn check_text_fits_small_budgets(
        lines in proptest::collection::vec(plan_line(), 0..300),
        budget in 3_000usize..10_000,
    ) {
        let p = planned(
            target(None, ".", "default"),
            &[("terraform_data.x", Action::Create)],
            &lines.join("\n"),
        );
        let out = check::plan_check_with(&p, budget);
        if let Some(text) = &out.text {
            prop_assert!(len(text) <= budget + 50, "{}", len(text));
            prop_assert_eq!(balanced(text), Ok(()));
        }
    }
}
