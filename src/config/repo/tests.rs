use super::*;
use proptest::prelude::*;

fn ok(text: &str) -> RepoConfig {
    parse("bosun.yaml", text).unwrap_or_else(|e| panic!("{e}"))
}

fn err(text: &str) -> String {
    parse("bosun.yaml", text).unwrap_err().to_string()
}

#[test]
fn a_full_atlantis_v3_file() {
    let c = ok(r#"
version: 3
automerge: true
parallel_plan: true
parallel_apply: false
delete_source_branch_on_merge: true
apply_on_merge: true
projects:
- name: prod
  dir: ./envs/prod/
  workspace: default
  branch: /^main$/
  terraform_version: v1.9.0
  autoplan:
    enabled: true
    when_modified: ["*.tf", "../../modules/**/*.tf"]
  apply_requirements: [mergeable, approved, undiverged]
  workflow: custom
  execution_order_group: 2
  apply_on_merge: false
- name: network
  dir: envs/network
  workspace: blue
workflows:
  custom:
    plan:
      steps: [init, plan]
"#);
    assert!(
        c.automerge
            && c.parallel_plan
            && !c.parallel_apply
            && c.delete_source_branch_on_merge
            && c.apply_on_merge
    );
    assert_eq!(c.workflows[0].name, "custom");
    let prod = &c.projects[0];
    assert_eq!(prod.dir, "envs/prod");
    assert_eq!(prod.branch.as_deref(), Some("^main$"));
    assert_eq!(prod.when_modified, vec!["*.tf", "../../modules/**/*.tf"]);
    assert_eq!(
        prod.apply_requirements,
        vec![
            ApplyRequirement::Mergeable,
            ApplyRequirement::Approved,
            ApplyRequirement::Undiverged
        ]
    );
    assert_eq!(
        (prod.execution_order_group, prod.apply_on_merge),
        (2, Some(false))
    );
    assert_eq!(prod.display_name(), "prod");
    assert_eq!(c.projects[1].display_name(), "network:blue");
}

#[test]
fn defaults() {
    let c = ok("version: 3\nprojects:\n- dir: .\n");
    let p = &c.projects[0];
    assert_eq!(
        (p.dir.as_str(), p.workspace.as_str(), p.autoplan_enabled),
        (".", "default", true)
    );
    assert_eq!(p.display_name(), ".");
    assert!(!c.apply_on_merge);
}

#[test]
fn errors_name_the_file_line_column_and_key() {
    let cases = [
        ("", "bosun.yaml:1:1: the file is empty"),
        ("projects: []\n", "bosun.yaml:1:1: version: missing"),
        (
            "version: 4\n",
            "bosun.yaml:1:10: version: only versions 2 and 3 are supported, not 4",
        ),
        (
            "version:\nprojects: []\n",
            "bosun.yaml:1:1: version: missing",
        ),
        (
            "version: 3\nautomerj: true\n",
            "bosun.yaml:2:1: automerj: unknown key (did you mean `automerge`?)",
        ),
        (
            "version: 3\nprojects:\n- dri: a\n",
            "bosun.yaml:3:3: projects[0].dri: unknown key (did you mean `dir`?)",
        ),
        (
            "version: 3\nprojects:\n- workspace: x\n",
            "bosun.yaml:3:3: projects[0].dir: missing",
        ),
        (
            "version: 3\nprojects:\n- dir: a\n  autoplan:\n    enabled: yes\n",
            "bosun.yaml:5:14: projects[0].autoplan.enabled: expected true or false",
        ),
        (
            "version: 3\nprojects:\n- dir: ../x\n",
            "bosun.yaml:3:8: projects[0].dir: leaves the repository",
        ),
        (
            "version: 3\nprojects:\n- dir: \"/a\\u0007\"\n",
            "bosun.yaml:3:8: projects[0].dir: must be a relative directory",
        ),
        (
            "version: 3\nprojects:\n- dir: a\n  workspace: a/b\n",
            "bosun.yaml:4:14: projects[0].workspace: a workspace name holds",
        ),
        (
            "version: 3\nprojects:\n- dir: a\n  branch: /(/\n",
            "bosun.yaml:4:11: projects[0].branch: not a valid regex",
        ),
        (
            "version: 3\nprojects:\n- dir: a\n  apply_requirements: [approved, reviewed]\n",
            "bosun.yaml:4:34: projects[0].apply_requirements[1]: `reviewed` is not one of approved, mergeable, undiverged, policies_passed",
        ),
        (
            "version: 3\nprojects:\n- dir: a\n  execution_order_group: first\n",
            "bosun.yaml:4:26: projects[0].execution_order_group: expected a whole number",
        ),
        (
            "version: 3\nprojects:\n- dir: a\n  depends_on: [b]\n",
            "bosun.yaml:4:15: projects[0].depends_on: bosun orders applies by `execution_order_group` only; `depends_on` is not supported yet (give the project a later execution_order_group instead)",
        ),
        (
            "version: 3\nprojects:\n- dir: a\n  terraform_distribution: tofu\n",
            "bosun.yaml:4:27: projects[0].terraform_distribution: 'tofu' is not a valid terraform_distribution, only 'terraform' and 'opentofu' are supported",
        ),
        (
            "version: 3\nprojects:\n- dir: a\n  plan_requirements: [reviewed]\n",
            "bosun.yaml:4:23: projects[0].plan_requirements[0]: `reviewed` is not one of approved, mergeable, undiverged, policies_passed",
        ),
        (
            "version: 3\nautodiscover: {mode: sometimes}\n",
            "bosun.yaml:2:22: autodiscover.mode: `sometimes` is not one of auto, enabled, disabled",
        ),
        (
            "version: 3\nautodiscover:\n  ignore_paths: [/abs]\n",
            "bosun.yaml:3:17: autodiscover.ignore_paths[0]: pattern must not begin with a slash '/'",
        ),
        (
            "version: 3\nallowed_regexp_prefixes: [dev/, \"\"]\n",
            "bosun.yaml:2:33: allowed_regexp_prefixes[1]: expected a non-empty string",
        ),
        (
            "version: 3\nallowed_regexp_prefixes: dev/\n",
            "bosun.yaml:2:26: allowed_regexp_prefixes: expected a list",
        ),
        (
            "version: 3\nprojects:\n- dir: a\n  workflow: w\n",
            "bosun.yaml:4:13: projects[0].workflow: no workflow is named `w`",
        ),
        (
            "version: 3\nprojects:\n- dir: a\n- dir: a\n",
            "bosun.yaml:3:3: projects[0]: two or more projects are on dir `a` and workspace `default` and not all are named: give each a `name`, so that `-p` can plan and apply them apart",
        ),
        (
            "version: 3\nprojects:\n- {dir: a, name: x, workspace: blue}\n- {dir: a, workspace: blue}\n",
            "bosun.yaml:3:4: projects[0]: two or more projects are on dir `a` and workspace `blue` and not all are named",
        ),
        (
            "version: 3\nprojects:\n- {dir: a, name: x}\n- {dir: b, name: x}\n",
            "bosun.yaml:4:18: projects[1].name: `x` names two projects",
        ),
        (
            "version: 3\nversion: 3\n",
            "bosun.yaml:2:1: version: key given twice",
        ),
        (
            "version: 3\nprojects: {dir: a}\n",
            "bosun.yaml:2:12: projects: expected a list",
        ),
        (
            "version: 3\nprojects: [\n",
            "bosun.yaml:3:1: not valid YAML",
        ),
        ("- a\n- b\n", "bosun.yaml:1:1: expected a mapping"),
        (
            "version: 3\nx: &a [1]\ny: *a\n",
            "bosun.yaml:2:7: anchors and aliases are not supported",
        ),
    ];
    for (text, want) in cases {
        let got = err(text);
        assert!(got.starts_with(want), "{text:?}\n got: {got}\nwant: {want}");
    }
}

#[test]
fn projects_may_share_a_dir_in_different_workspaces() {
    let c = ok(
        "version: 3\nprojects:\n- {name: blue, dir: a, workspace: blue}\n- {name: a2, dir: a}\n- {name: a3, dir: a, workspace: green}\n",
    );
    assert_eq!(c.projects.len(), 3);
}

proptest! {
    #[test]
    fn no_input_panics(text in ".{0,400}") {
        let _ = parse("bosun.yaml", &text);
        let _ = parse("bosun.yaml", &format!("version: 3\nprojects:\n- dir: a\n  {text}"));
    }
}

/// A YAML value of the shapes a config holds, right or wrong for its key.
fn any_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("true".to_owned()),
        Just("3".to_owned()),
        Just("''".to_owned()),
        "[a-z./*]{1,8}",
        "\\[[a-z, ]{0,12}\\]",
        Just("[approved, mergeable]".to_owned()),
        Just("{enabled: false}".to_owned()),
        Just("{x: {y: [1, {z: 2}]}}".to_owned()),
    ]
}

fn any_key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(TOP_KEYS).prop_map(str::to_owned),
        prop::sample::select(PROJECT_KEYS).prop_map(str::to_owned),
        "[a-z_]{1,6}",
    ]
}

proptest! {
    /// Configs built from real keys and plausible values reach deeper than random text: any
    /// of them parses or fails, and one that parses passes or fails the powers check, without
    /// a panic.
    #[test]
    fn configs_of_real_keys_never_panic(
        top in proptest::collection::vec((any_key(), any_value()), 0..6),
        projects in proptest::collection::vec(proptest::collection::vec((any_key(), any_value()), 0..6), 0..3),
    ) {
        let mut text = String::from("version: 3\n");
        for (k, v) in &top {
            if k != "version" && k != "projects" {
                text.push_str(&format!("{k}: {v}\n"));
            }
        }
        text.push_str("projects:\n");
        for (i, p) in projects.iter().enumerate() {
            text.push_str(&format!("- dir: d{i}\n"));
            for (k, v) in p {
                if k != "dir" {
                    text.push_str(&format!("  {k}: {v}\n"));
                }
            }
        }
        if let Ok(config) = parse("bosun.yaml", &text) {
            use crate::config::powers::{ServerPolicy, check};
            let _ = check(&config, &ServerPolicy::strict().for_repo("acme/infra", "main"));
            prop_assert_eq!(
                check(&config, &ServerPolicy::permissive().for_repo("acme/infra", "main")),
                Ok(())
            );
        }
    }
}

const WORKFLOWS: &str = r#"version: 3
projects:
- dir: a
  workflow: custom
workflows:
  custom:
    network: false
    plan:
      steps:
      - init
      - env: {name: REGION, value: eu}
      - env: {name: WHO, command: whoami}
      - run: echo custom-step $PULL_NUM
      - plan: {extra_args: ["-lock=false"]}
    apply:
      steps: [{run: echo before}, {apply: {extra_args: [-parallelism=1]}}]
  other:
    plan:
      steps: [{init: {extra_args: [-upgrade]}}, plan]
"#;

#[test]
fn workflows_parse_into_steps() {
    let c = ok(WORKFLOWS);
    let custom = &c.workflows[0];
    assert!(!custom.network);
    assert_eq!(
        custom.plan.as_deref(),
        Some(
            &[
                WorkflowStep::Init { extra_args: vec![] },
                WorkflowStep::Env {
                    name: "REGION".into(),
                    value: EnvValue::Value("eu".into())
                },
                WorkflowStep::Env {
                    name: "WHO".into(),
                    value: EnvValue::Command(ShellCommand::plain("whoami"))
                },
                WorkflowStep::Run(ShellCommand::plain("echo custom-step $PULL_NUM")),
                WorkflowStep::Plan {
                    extra_args: vec!["-lock=false".into()]
                },
            ][..]
        )
    );
    assert_eq!(
        custom.apply.as_deref(),
        Some(
            &[
                WorkflowStep::Run(ShellCommand::plain("echo before")),
                WorkflowStep::Apply {
                    extra_args: vec!["-parallelism=1".into()]
                },
            ][..]
        )
    );
    let other = &c.workflows[1];
    assert!(other.network && other.apply.is_none());
    assert_eq!(
        other.plan.as_ref().map(|s| s[0].clone()),
        Some(WorkflowStep::Init {
            extra_args: vec!["-upgrade".into()]
        })
    );
    assert_eq!(
        c.workflow_of(&"a".into(), &"default".into(), None)
            .map(|w| w.name.as_str()),
        Some("custom")
    );
    assert_eq!(c.workflow_of(&"b".into(), &"default".into(), None), None);
}

#[test]
fn a_step_key_with_nothing_after_it_is_the_bare_step() {
    let c =
        ok("version: 3\nworkflows:\n  w:\n    plan:\n      steps:\n      - init:\n      - plan\n");
    assert_eq!(
        c.workflows[0].plan.as_ref().map(|s| s[0].clone()),
        Some(WorkflowStep::Init { extra_args: vec![] })
    );
    assert!(
        err("version: 3\nworkflows:\n  w:\n    plan:\n      steps:\n      - run:\n")
            .contains("a `run` step needs a command")
    );
}

#[test]
fn a_workflow_named_default_is_every_other_projects() {
    let c = ok(
        "version: 3\nprojects:\n- dir: a\nworkflows:\n  default:\n    plan:\n      steps: [init, plan]\n",
    );
    assert_eq!(
        c.workflow_of(&"a".into(), &"default".into(), None)
            .map(|w| w.name.as_str()),
        Some("default")
    );
}

#[test]
fn bad_workflows_are_errors_with_positions() {
    let head = "version: 3\nworkflows:\n  w:\n";
    let cases = [
        (
            "    plan:\n      steps: [init, terraform]\n",
            "bosun.yaml:5:21: workflows.w.plan.steps[1]: `terraform` is not a step: use init, plan, apply, run, env or multienv",
        ),
        (
            "    plan:\n      steps: [apply]\n",
            "bosun.yaml:5:15: workflows.w.plan.steps[0]: an `apply` step belongs in the apply steps, not the plan steps",
        ),
        (
            "    apply:\n      steps: [plan]\n",
            "bosun.yaml:5:15: workflows.w.apply.steps[0]: a `plan` step belongs in the plan steps, not the apply steps",
        ),
        (
            "    plan:\n      steps: [{run: echo, init: }]\n",
            "bosun.yaml:5:16: workflows.w.plan.steps[0]: a step is one key: init, plan, apply, run, env or multienv",
        ),
        (
            "    plan:\n      steps: [{rnu: echo}]\n",
            "bosun.yaml:5:16: workflows.w.plan.steps[0].rnu: unknown key (did you mean `run`?)",
        ),
        (
            "    plan:\n      steps: [{run: [a]}]\n",
            "bosun.yaml:5:21: workflows.w.plan.steps[0].run: expected a non-empty string",
        ),
        (
            "    plan:\n      steps: [{env: {name: A, value: b, command: c}}]\n",
            "bosun.yaml:5:50: workflows.w.plan.steps[0].env.command: give either `value` or `command`, not both",
        ),
        (
            "    plan:\n      steps: [{env: {name: A}}]\n",
            "bosun.yaml:5:22: workflows.w.plan.steps[0].env: missing `value` or `command`",
        ),
        (
            "    plan:\n      steps: [{env: {name: 'A B', value: x}}]\n",
            "bosun.yaml:5:28: workflows.w.plan.steps[0].env.name: not a usable variable name",
        ),
        (
            "    plan:\n      steps: [{init: {extra_args: -upgrade}}]\n",
            "bosun.yaml:5:35: workflows.w.plan.steps[0].init.extra_args: expected a list",
        ),
        (
            "    network: no\n",
            "bosun.yaml:4:14: workflows.w.network: expected true or false",
        ),
        (
            "    plan:\n      stpes: []\n",
            "bosun.yaml:5:7: workflows.w.plan.stpes: unknown key (did you mean `steps`?)",
        ),
    ];
    let got: Vec<String> = cases
        .iter()
        .map(|(body, _)| err(&format!("{head}{body}")))
        .collect();
    let want: Vec<&str> = cases.iter().map(|(_, want)| *want).collect();
    assert_eq!(got, want);
}

#[test]
fn a_project_naming_an_unknown_workflow_is_an_error() {
    assert_eq!(
        err("version: 3\nprojects:\n- dir: a\n  workflow: nope\nworkflows:\n  w: {}\n"),
        "bosun.yaml:4:13: projects[0].workflow: no workflow is named `nope`"
    );
}

#[test]
fn a_project_is_found_by_name_else_by_dir_and_workspace() {
    let c = ok(
        "version: 3\nprojects:\n- name: prod\n  dir: envs/prod\n  workflow: w\n- dir: envs/dev\nworkflows:\n  w:\n    plan:\n      steps: [init, plan]\n",
    );
    // Moved by another commit, found by its name.
    assert_eq!(
        c.project(&"elsewhere".into(), &"default".into(), Some("prod"))
            .map(|p| p.dir.as_str()),
        Some("envs/prod")
    );
    assert_eq!(
        c.workflow_of(&"elsewhere".into(), &"default".into(), Some("prod"))
            .map(|w| w.name.as_str()),
        Some("w")
    );
    // A name the file does not have: by dir and workspace.
    assert_eq!(
        c.project(&"envs/dev".into(), &"default".into(), Some("dev"))
            .map(|p| p.dir.as_str()),
        Some("envs/dev")
    );
    assert!(
        c.project(&"envs/dev".into(), &"staging".into(), None)
            .is_none()
    );
}

#[test]
fn null_and_empty_values_are_absent_as_in_atlantis() {
    let c = ok("version: 3\nprojects:\nworkflows: ~\n");
    assert!(c.projects.is_empty() && c.workflows.is_empty());
    let c = ok(
        "version: 3\nworkflows:\n  w: ~\n  x:\n    plan:\n      steps:\n    apply: ~\n    import:\n      steps:\n",
    );
    let (w, x) = (&c.workflows[0], &c.workflows[1]);
    assert_eq!((w.name.as_str(), &w.plan, &w.apply), ("w", &None, &None));
    assert_eq!((&x.plan, &x.apply), (&None, &None));
    assert!(x.other_stages.is_empty());
    // An empty list is no steps, not the default ones.
    let c = ok("version: 3\nworkflows:\n  w:\n    plan:\n      steps: []\n");
    assert_eq!(c.workflows[0].plan, Some(vec![]));
}

#[test]
fn version_2_splits_run_commands_as_a_shell_would_and_rejoins_them() {
    let file = |v: u8, run: &str| {
        format!(
            "version: {v}\nworkflows:\n  w:\n    plan:\n      steps:\n      - run: {run}\n    policy_check:\n      steps:\n      - run: {run}\n"
        )
    };
    let run = |text: &str| match &ok(text).workflows[0].plan.as_deref() {
        Some([WorkflowStep::Run(command)]) => command.command.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        run(&file(2, "echo  'a b'  \"c\\\"d\" e\\ f")),
        "echo a b c\"d e f"
    );
    assert_eq!(run(&file(3, "echo  'a b'")), "echo  'a b'");
    // Only the plan and apply stages, as in Atlantis.
    let c = ok(&file(2, "echo  'a b'"));
    assert_eq!(
        c.workflows[0].other_stages[0].1,
        vec![OtherStep::Common(WorkflowStep::Run(ShellCommand::plain(
            "echo  'a b'"
        )))]
    );
    assert_eq!(
        err(&file(2, "echo 'a b")),
        "bosun.yaml:6:14: workflows.w.plan.steps[0].run: unable to parse `echo 'a b`: EOF found when expecting closing quote"
    );
}

#[test]
fn atlantis_stages_bosun_does_not_run_are_read_strictly() {
    let c = ok(r#"
version: 3
workflows:
  w:
    policy_check:
      steps: [show, {policy_check: {extra_args: [a]}}]
    import:
      steps: [init, {import: {extra_args: [b]}}]
    state_rm:
      steps: [state_rm]
"#);
    assert_eq!(
        c.workflows[0].other_stages,
        vec![
            (
                "policy_check".to_owned(),
                vec![
                    OtherStep::Show,
                    OtherStep::PolicyCheck {
                        extra_args: vec!["a".into()]
                    }
                ]
            ),
            (
                "import".to_owned(),
                vec![
                    OtherStep::Common(WorkflowStep::Init { extra_args: vec![] }),
                    OtherStep::Import {
                        extra_args: vec!["b".into()]
                    }
                ]
            ),
            (
                "state_rm".to_owned(),
                vec![OtherStep::StateRm { extra_args: vec![] }]
            ),
        ]
    );
    assert_eq!(
        err("version: 3\nworkflows:\n  w:\n    plan:\n      steps: [import]\n"),
        "bosun.yaml:5:15: workflows.w.plan.steps[0]: `import` steps do not belong in this stage (it takes init, plan, run or env)"
    );
}

#[test]
fn atlantis_keys_that_act_read_as_atlantis_reads_them() {
    let c = ok(
        "version: 3\nprojects:\n- dir: .\n  terraform_distribution: opentofu\n  plan_requirements: [approved, undiverged]\n",
    );
    assert_eq!(
        c.projects[0].terraform_distribution,
        Some(Distribution::OpenTofu)
    );
    assert_eq!(
        c.projects[0].plan_requirements,
        [ApplyRequirement::Approved, ApplyRequirement::Undiverged]
    );
    // The defaults: plan in parallel, stop at a failing group, discover only without projects.
    let c = ok("version: 3\n");
    assert!(c.parallel_plan && c.abort_on_execution_order_fail);
    assert_eq!(c.autodiscover, AutoDiscover::default());
    assert!(c.discovers());
    assert!(!ok("version: 3\nprojects:\n- dir: a\n").discovers());
    let c = ok(
        "version: 3\nparallel_plan: false\nabort_on_execution_order_fail: false\nautodiscover:\n  mode: enabled\n  ignore_paths: [\"modules/**\"]\nprojects:\n- dir: a\n",
    );
    assert!(!c.parallel_plan && !c.abort_on_execution_order_fail);
    assert_eq!(c.autodiscover.mode, DiscoverMode::Enabled);
    assert_eq!(c.autodiscover.ignore_paths, ["modules/**"]);
    assert!(c.discovers());
    assert!(!ok("version: 3\nautodiscover: {mode: disabled}\n").discovers());
    assert!(ok("version: 3\nautodiscover: {}\n").discovers());
    assert!(
        err("version: 3\nautodiscover: {ignore_paths: [\"a[\"]}\n").contains("invalid pattern")
    );
}

#[test]
fn keys_bosun_cannot_act_on_are_refused_with_their_place() {
    assert!(
        err("version: 3\nprojects:\n- dir: \"[invalid\"\n")
            .starts_with("bosun.yaml:3:8: projects[0].dir: not a valid glob pattern: ")
    );
}

#[test]
fn terraform_version_reads_as_atlantis_reads_it() {
    let c = ok("version: 3\nprojects:\n- dir: .\n  terraform_version: v1.9.0\n");
    assert_eq!(c.projects[0].terraform_version.as_deref(), Some("1.9.0"));
    assert_eq!(
        c.projects[0].when_modified,
        DEFAULT_WHEN_MODIFIED.map(String::from).to_vec()
    );
}

#[test]
fn names_workspaces_and_rooted_dirs_follow_atlantis() {
    let c =
        ok("version: 3\nprojects:\n- {dir: /, name: a/b.c_d-e}\n- {dir: /x/y/, workspace: \"\"}\n");
    let got: Vec<_> = c
        .projects
        .iter()
        .map(|p| (p.dir.as_str(), p.workspace.as_str()))
        .collect();
    assert_eq!(got, [(".", "default"), ("x/y", "default")]);
    for name in ["a b", "a+b", "a*", "p[1]", "😀"] {
        let e = err(&format!(
            "version: 3\nprojects:\n- {{dir: ., name: \"{name}\"}}\n"
        ));
        assert!(e.contains("a project name holds only"), "{name}: {e}");
    }
    for ws in ["-chdir", "a..b", "a b", "a$HOME"] {
        let e = err(&format!(
            "version: 3\nprojects:\n- {{dir: ., workspace: \"{ws}\"}}\n"
        ));
        assert!(e.contains("a workspace name holds"), "{ws}: {e}");
    }
    let c = ok("version: 3\nrepo_locks: {mode: on_plan}\nprojects:\n- {dir: ., repo_locks: {}}\n");
    assert_eq!(c.repo_locks, LockMode::OnPlan);
    assert_eq!(c.projects[0].repo_locks, None);
    let c = ok(
        "version: 3\nrepo_locks: {mode: disabled}\nprojects:\n- dir: a\n  repo_locks: {mode: on_apply}\n- dir: b\n",
    );
    assert_eq!(c.repo_locks, LockMode::Disabled);
    assert_eq!(c.projects[0].repo_locks, Some(LockMode::OnApply));
    assert_eq!(c.projects[1].repo_locks, None);
    assert_eq!(
        err("version: 3\nprojects:\n- dir: .\n  repo_locks: {mode: later}\n"),
        "bosun.yaml:4:22: projects[0].repo_locks.mode: `later` is not one of on_plan, on_apply, disabled"
    );
    assert!(
        err("version: 3\napply_on_merge: true\nprojects:\n- dir: .\n  repo_locks: {mode: on_apply}\n")
            .starts_with("bosun.yaml:5:3: projects[0].repo_locks: `mode: on_apply` cannot go with `apply_on_merge`")
    );
    ok("version: 3\napply_on_merge: true\nrepo_locks: {mode: disabled}\n");
    let c = ok("version: 3\nprojects:\n- dir: .\n  autoplan: ~\n");
    assert!(c.projects[0].autoplan_enabled);
}

#[test]
fn import_requirements_are_read_per_project() {
    let c = parse(
        "bosun.yaml",
        "version: 3\nprojects:\n- dir: a\n  import_requirements: [approved, undiverged]\n- dir: b\n",
    )
    .unwrap();
    assert_eq!(
        c.projects[0].import_requirements,
        [ApplyRequirement::Approved, ApplyRequirement::Undiverged]
    );
    assert!(c.projects[1].import_requirements.is_empty());
    assert!(
        c.projects[0].apply_requirements.is_empty(),
        "a key of its own"
    );
    assert_eq!(
        err("version: 3\nprojects:\n- dir: a\n  import_requirements: [signed]\n"),
        "bosun.yaml:4:25: projects[0].import_requirements[0]: `signed` is not one of approved, mergeable, undiverged, policies_passed"
    );
    assert!(
        err("version: 3\nimport_requirements: [approved]\n").contains("unknown key"),
        "a project's key, as in Atlantis"
    );
}

#[test]
fn allowed_regexp_prefixes_are_read() {
    let c = ok("version: 3\nallowed_regexp_prefixes: [dev/, staging-]\n");
    assert_eq!(c.allowed_regexp_prefixes, ["dev/", "staging-"]);
    assert!(
        ok("version: 3\nallowed_regexp_prefixes: ~\n")
            .allowed_regexp_prefixes
            .is_empty()
    );
    assert!(ok("version: 3\n").allowed_regexp_prefixes.is_empty());
}

#[test]
fn named_projects_may_share_a_dir_and_workspace() {
    let c = ok("version: 3\nprojects:\n- {dir: ., name: default}\n- {dir: ., name: staging}\n");
    let names: Vec<_> = c.projects.iter().map(|p| p.name.as_deref()).collect();
    assert_eq!(names, [Some("default"), Some("staging")]);
    assert_eq!(
        c.project(&".".into(), &"default".into(), Some("staging"))
            .and_then(|p| p.name.as_deref()),
        Some("staging")
    );
    // A name the file does not have is not taken for either of them.
    assert!(
        c.project(&".".into(), &"default".into(), Some("prod"))
            .is_none()
    );
    assert!(c.project(&".".into(), &"default".into(), None).is_none());
    // One of them unnamed: `-p` could not tell them apart.
    assert!(
        err("version: 3\nprojects:\n- {dir: ., name: default}\n- {dir: .}\n")
            .contains("not all are named")
    );
}

#[test]
fn silence_pr_comments_reads_for_the_file_and_per_project() {
    let c = ok(
        "version: 3\nsilence_pr_comments: [apply]\nprojects:\n- dir: a\n- dir: b\n  silence_pr_comments: [plan]\n- dir: c\n  silence_pr_comments: []\n",
    );
    assert!(c.silences(&(&"a".into(), &"default".into(), None), "apply"));
    assert!(!c.silences(&(&"a".into(), &"default".into(), None), "plan"));
    assert!(c.silences(&(&"b".into(), &"default".into(), None), "plan"));
    assert!(!c.silences(&(&"b".into(), &"default".into(), None), "apply"));
    assert!(!c.silences(&(&"c".into(), &"default".into(), None), "apply"));
    // A project the file does not list: the file's.
    assert!(c.silences(&(&"d".into(), &"default".into(), None), "apply"));
    assert!(
        !ok("version: 3\nsilence_pr_comments: ~\n")
            .silences(&(&".".into(), &"default".into(), None), "plan")
    );
    assert_eq!(
        err("version: 3\nsilence_pr_comments: [plan, import]\n"),
        "bosun.yaml:2:29: silence_pr_comments[1]: `import` is not a stage whose comments can be silenced: use plan or apply"
    );
}

#[test]
fn atlantis_keys_bosun_lacks_are_refused_as_such() {
    for (text, key) in [
        ("version: 3\nemoji_reaction: eyes\n", "emoji_reaction"),
        (
            "version: 3\nprojects:\n- dir: .\n  policy_check: true\n",
            "projects[0].policy_check",
        ),
        (
            "version: 3\nprojects:\n- dir: .\n  repo_locking: false\n",
            "projects[0].repo_locking",
        ),
    ] {
        let e = err(text);
        assert!(
            e.contains(&format!(
                "{key}: Atlantis's key, which bosun cannot act on yet"
            )),
            "{e}"
        );
    }
}
