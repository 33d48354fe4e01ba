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
  depends_on: [network]
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
    assert_eq!(c.workflows, vec!["custom"]);
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
            "version: 2\n",
            "bosun.yaml:1:10: version: only version 3 is supported, not 2",
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
            "version: 3\nprojects:\n- dir: /etc\n",
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
            "bosun.yaml:4:34: projects[0].apply_requirements[1]: `reviewed` is not one of approved, mergeable, undiverged",
        ),
        (
            "version: 3\nprojects:\n- dir: a\n  execution_order_group: first\n",
            "bosun.yaml:4:26: projects[0].execution_order_group: expected a whole number",
        ),
        (
            "version: 3\nprojects:\n- dir: a\n  depends_on: [b]\n",
            "bosun.yaml:4:16: projects[0].depends_on[0]: no project is named `b`",
        ),
        (
            "version: 3\nprojects:\n- dir: a\n  workflow: w\n",
            "bosun.yaml:4:13: projects[0].workflow: no workflow is named `w`",
        ),
        (
            "version: 3\nprojects:\n- dir: a\n- dir: a\n",
            "bosun.yaml:3:3: projects[0]: two projects on dir `a` and workspace `default`",
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
fn two_named_projects_may_share_a_dir() {
    let c = ok(
        "version: 3\nprojects:\n- {name: blue, dir: a, workspace: blue}\n- {name: a2, dir: a}\n- {name: a3, dir: a}\n",
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
            let _ = check(&config, "acme/infra", &ServerPolicy::strict());
            prop_assert_eq!(check(&config, "acme/infra", &ServerPolicy::permissive()), Ok(()));
        }
    }
}
