use std::time::Duration;

use super::*;

const FORBIDDEN: &str = r#"package terraform.forbidden

import rego.v1

deny contains msg if {
    some rc in input.resource_changes
    rc.type == "terraform_data"
    contains(json.marshal(rc.change.after.input), "forbidden")
    msg := sprintf("%s must not hold \"forbidden\"", [rc.address])
}

warn contains {"msg": "a warning"} if {
    count(input.resource_changes) > 1
}
"#;

fn module(text: &str) -> Vec<RegoModule> {
    vec![RegoModule {
        path: "policies/forbidden.rego".into(),
        text: text.into(),
    }]
}

fn plan(input: &str) -> String {
    serde_json::json!({
        "resource_changes": [
            {"address": "terraform_data.a", "type": "terraform_data",
             "change": {"after": {"input": input}}},
            {"address": "null_resource.b", "type": "null_resource", "change": {"after": {}}},
        ]
    })
    .to_string()
}

#[test]
fn deny_violation_and_warn_are_read_in_every_package() {
    let long = Duration::from_secs(10);
    let out = eval::evaluate(&module(FORBIDDEN), &plan("it is forbidden"), long).unwrap();
    assert_eq!(
        out.failures,
        vec!["terraform_data.a must not hold \"forbidden\"".to_owned()]
    );
    assert_eq!(out.warnings, vec!["a warning".to_owned()]);
    let clean = eval::evaluate(&module(FORBIDDEN), &plan("fine"), long).unwrap();
    assert!(clean.failures.is_empty(), "{clean:?}");

    let mut two = module(FORBIDDEN);
    two.push(RegoModule {
        path: "policies/other.rego".into(),
        text: "package other\nimport rego.v1\nviolation contains \"always\" if { true }\n".into(),
    });
    let out = eval::evaluate(&two, &plan("fine"), long).unwrap();
    assert_eq!(out.failures, vec!["always".to_owned()]);
}

#[test]
fn messages_are_capped_in_number_and_length() {
    let many = "package many\nimport rego.v1\n\
                deny contains sprintf(\"%d %s\", [i, input.s]) if {\n  \
                  some i in numbers.range(1, 500)\n}\n";
    let input = serde_json::json!({ "s": "x".repeat(5000) }).to_string();
    let out = eval::evaluate(&module(many), &input, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.failures.len(), 200);
    assert!(
        out.failures
            .iter()
            .all(|m| m.chars().count() == 1001 && m.ends_with('…'))
    );
}

#[test]
fn a_rego_error_names_the_file_and_line() {
    let e = eval::compile(&module(
        "package p\n\ndeny contains msg if {\n  msg := \n}\n",
    ))
    .unwrap_err();
    assert!(e.contains("policies/forbidden.rego:"), "{e}");
}

#[test]
fn load_reads_a_directory_of_rego_and_refuses_bad_rego() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.rego"), FORBIDDEN).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not rego").unwrap();
    let modules = load(dir.path()).unwrap();
    assert_eq!(modules.len(), 1);
    assert!(modules[0].path.ends_with("a.rego"));
    std::fs::write(dir.path().join("b.rego"), "package b\ndeny contains if\n").unwrap();
    let e = load(dir.path()).unwrap_err();
    assert!(e.contains("b.rego:2"), "{e}");
    let empty = tempfile::tempdir().unwrap();
    assert!(load(empty.path()).unwrap_err().contains("no .rego file"));
    assert!(
        load(&empty.path().join("missing"))
            .unwrap_err()
            .contains("cannot read")
    );
}

#[test]
fn approvers_are_the_sets_owners_and_the_top_level_ones() {
    let set = PolicySet {
        name: "s".into(),
        path: "p".into(),
        source: Source::Local,
        approve_count: 2,
        prevent_self_approve: false,
        owners: Owners {
            users: vec!["Alice".into()],
            teams: vec![],
        },
        modules: vec![],
    };
    let policies = Policies {
        owners: Owners {
            users: vec!["alice".into(), "bob".into()],
            teams: vec!["acme/sec".into()],
        },
        sets: vec![set.clone()],
    };
    let who = policies.approvers(&set);
    assert!(who.has_user("ALICE") && who.has_user("bob"));
    assert_eq!(who.users.len(), 2);
    assert_eq!(who.describe(), ["@Alice", "@bob", "team acme/sec"]);
    let status = |approved_by: &[&str]| SetStatus {
        set: "s".into(),
        failures: vec!["no".into()],
        warnings: vec![],
        approved_by: approved_by.iter().map(|s| (*s).to_owned()).collect(),
        needed: set.approve_count,
        owners: who.describe(),
    };
    assert!(!status(&["alice"]).passes());
    assert!(status(&["alice", "bob"]).passes());
}

#[test]
fn a_set_is_evaluated_within_10_seconds_and_1_gib_by_default() {
    let limits = child::EvalLimits::default();
    assert_eq!(limits.time, Duration::from_secs(10));
    assert_eq!(limits.memory, 1 << 30);
    assert_eq!(limits.bin, None, "bosun's own binary");
}
