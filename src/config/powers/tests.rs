use super::*;
use crate::config::repo::parse;

const REPO: &str = "acme/infra";

fn policy(custom: &str, overrides: &str, required: &str) -> ServerPolicy {
    ServerPolicy {
        allow_custom_workflows: RepoAllowlist::parse(custom).unwrap(),
        allowed_overrides: AllowedOverrides::parse(overrides).unwrap(),
        apply_requirements: parse_requirements(required).unwrap(),
        server: None,
    }
}

/// [`super::check`] of `config` under `policy`'s rules for `repo` on `main`.
fn check(config: &RepoConfig, repo: &str, policy: &ServerPolicy) -> Result<(), ConfigError> {
    super::check(config, &policy.for_repo(repo, "main"))
}

fn config(text: &str) -> RepoConfig {
    parse("bosun.yaml", text).unwrap_or_else(|e| panic!("{e}"))
}

/// The refusal of `text` under `p`, as users read it.
fn refused(text: &str, p: &ServerPolicy) -> String {
    check(&config(text), REPO, p).unwrap_err().to_string()
}

const WORKFLOW: &str = "version: 3\nprojects:\n- dir: a\n  workflow: custom\nworkflows:\n  custom:\n    plan:\n      steps: [{run: cat /etc/passwd}]\n";

#[test]
fn a_plain_config_passes_the_strictest_policy() {
    let text = "version: 3\nautomerge: true\nprojects:\n- dir: a\n  workflow: default\n  apply_requirements: [approved]\n";
    assert_eq!(check(&config(text), REPO, &ServerPolicy::strict()), Ok(()));
}

#[test]
fn custom_workflows_are_refused_unless_the_repo_is_allowed() {
    let err = refused(WORKFLOW, &ServerPolicy::strict());
    assert_eq!(
        err,
        "bosun.yaml:6:3: workflows.custom: custom workflows are not allowed (bosun's operator \
         may allow them for acme/infra in the allow_custom_workflows setting or the server config)"
    );
    // Defining one is allowed, selecting it is a second permission.
    let err = refused(WORKFLOW, &policy("acme/*", "", ""));
    assert!(
        err.starts_with(
            "bosun.yaml:4:3: projects[0].workflow: selecting the workflow `custom` is not allowed"
        ),
        "{err}"
    );
    assert!(
        err.contains("adding `workflow` to the allowed_overrides"),
        "{err}"
    );
    let ok = policy("acme/*", "acme/infra:workflow", "");
    assert_eq!(check(&config(WORKFLOW), REPO, &ok), Ok(()));
    let other_repo = policy("other/*", "workflow", "");
    assert!(check(&config(WORKFLOW), REPO, &other_repo).is_err());
}

#[test]
fn a_workflow_defined_but_unused_is_still_refused() {
    let text = "version: 3\nworkflows:\n  default:\n    plan:\n      steps: [init]\n";
    assert!(refused(text, &policy("", "workflow", "")).contains("workflows.default"));
}

#[test]
fn dropping_a_required_apply_requirement_is_refused() {
    let p = policy("", "", "approved,mergeable");
    let text = "version: 3\nprojects:\n- dir: a\n- dir: b\n  apply_requirements: [mergeable, undiverged]\n";
    assert_eq!(
        refused(text, &p),
        "bosun.yaml:5:3: projects[1].apply_requirements: every project must require `approved`; \
         leaving it out is not allowed (bosun's operator may allow it for acme/infra by adding \
         `apply_requirements` to the allowed_overrides setting or the server config)"
    );
    let empty = "version: 3\nprojects:\n- dir: a\n  apply_requirements: []\n";
    assert!(refused(empty, &p).contains("`approved` and `mergeable`"));
    // Adding to them, or saying nothing, is fine.
    let more = "version: 3\nprojects:\n- dir: a\n  apply_requirements: [undiverged, mergeable, approved]\n- dir: b\n";
    assert_eq!(check(&config(more), REPO, &p), Ok(()));
    // Allowed: the project's list stands alone.
    let allowed = policy("", "apply_requirements", "approved,mergeable");
    assert_eq!(check(&config(empty), REPO, &allowed), Ok(()));
}

#[test]
fn the_minimum_is_the_servers_unless_an_allowed_project_sets_its_own() {
    let text = "version: 3\nprojects:\n- dir: a\n  apply_requirements: []\n- dir: b\n";
    let c = config(text);
    let strict = policy("", "", "approved");
    let approved = [ApplyRequirement::Approved];
    assert_eq!(
        strict.for_repo(REPO, "main").minimum(
            Requirements::Apply,
            Some(&c),
            (&"a".into(), &"default".into(), None)
        ),
        approved
    );
    assert_eq!(
        strict.for_repo(REPO, "main").minimum(
            Requirements::Apply,
            Some(&c),
            (&"b".into(), &"default".into(), None)
        ),
        approved
    );
    assert_eq!(
        strict.for_repo(REPO, "main").minimum(
            Requirements::Apply,
            None,
            (&"x".into(), &"default".into(), None)
        ),
        approved
    );
    let allowed = policy("", "acme/*:apply_requirements", "approved");
    assert!(
        allowed
            .for_repo(REPO, "main")
            .minimum(
                Requirements::Apply,
                Some(&c),
                (&"a".into(), &"default".into(), None)
            )
            .is_empty()
    );
    assert_eq!(
        allowed.for_repo(REPO, "main").minimum(
            Requirements::Apply,
            Some(&c),
            (&"b".into(), &"default".into(), None)
        ),
        approved
    );
    assert_eq!(
        allowed.for_repo("other/x", "main").minimum(
            Requirements::Apply,
            Some(&c),
            (&"a".into(), &"default".into(), None)
        ),
        approved
    );
}

#[test]
fn a_named_project_is_not_let_off_by_another_on_its_dir() {
    let text = "version: 3\nprojects:\n- {dir: ., name: dev, apply_requirements: []}\n- {dir: ., name: prod}\n";
    let c = config(text);
    let allowed = policy("", "acme/*:apply_requirements", "approved");
    let approved = [ApplyRequirement::Approved];
    assert!(
        allowed
            .for_repo(REPO, "main")
            .minimum(
                Requirements::Apply,
                Some(&c),
                (&".".into(), &"default".into(), Some("dev"))
            )
            .is_empty()
    );
    assert_eq!(
        allowed.for_repo(REPO, "main").minimum(
            Requirements::Apply,
            Some(&c),
            (&".".into(), &"default".into(), Some("prod"))
        ),
        approved
    );
    assert_eq!(
        allowed.for_repo(REPO, "main").minimum(
            Requirements::Apply,
            Some(&c),
            (&".".into(), &"default".into(), Some("new"))
        ),
        approved,
        "a name the config does not have stands for neither"
    );
}

#[test]
fn deleting_the_source_branch_needs_the_override() {
    let top = "version: 3\ndelete_source_branch_on_merge: true\n";
    assert!(refused(top, &ServerPolicy::strict()).starts_with(
        "bosun.yaml:2:1: delete_source_branch_on_merge: `delete_source_branch_on_merge: true` is not allowed"
    ));
    let project = "version: 3\nprojects:\n- dir: a\n  delete_source_branch_on_merge: true\n";
    assert!(refused(project, &ServerPolicy::strict()).contains("projects[0].delete_source"));
    let off = "version: 3\ndelete_source_branch_on_merge: false\n";
    assert_eq!(check(&config(off), REPO, &ServerPolicy::strict()), Ok(()));
    let p = policy("", "delete_source_branch_on_merge", "");
    assert_eq!(check(&config(top), REPO, &p), Ok(()));
    assert_eq!(check(&config(project), REPO, &p), Ok(()));
}

#[test]
fn permissive_allows_everything() {
    assert_eq!(
        check(&config(WORKFLOW), REPO, &ServerPolicy::permissive()),
        Ok(())
    );
}

#[test]
fn the_settings_parse_and_name_what_is_wrong() {
    let o = AllowedOverrides::parse(" workflow , acme/*:apply_requirements,").unwrap();
    assert!(o.allows("x/y", Override::Workflow));
    assert!(o.allows("ACME/infra", Override::ApplyRequirements));
    assert!(!o.allows("x/y", Override::ApplyRequirements));
    assert!(!o.allows("x/y", Override::DeleteSourceBranchOnMerge));
    let err = AllowedOverrides::parse("repo_locking").unwrap_err();
    assert!(err.contains("`repo_locking`") && err.contains("apply_requirements, workflow"));
    assert!(AllowedOverrides::parse(":workflow").is_err());
    assert!(
        AllowedOverrides::parse("acme:workflow")
            .unwrap_err()
            .contains("owner/name")
    );
    assert!(AllowedOverrides::parse("").unwrap().entries.is_empty());
    assert_eq!(
        parse_requirements("approved, approved ,undiverged").unwrap(),
        vec![ApplyRequirement::Approved, ApplyRequirement::Undiverged]
    );
    assert!(
        parse_requirements("aproved")
            .unwrap_err()
            .contains("`aproved`")
    );
}

#[test]
fn a_repo_locks_mode_other_than_on_plan_needs_the_override() {
    let top = "version: 3\nrepo_locks: {mode: disabled}\n";
    let err = refused(top, &ServerPolicy::strict());
    assert!(
        err.starts_with("bosun.yaml:2:1: repo_locks: `repo_locks` mode `disabled` is not allowed"),
        "{err}"
    );
    assert!(
        err.contains("adding `repo_locks` to the allowed_overrides"),
        "{err}"
    );
    let project = "version: 3\nprojects:\n- dir: a\n  repo_locks: {mode: on_apply}\n";
    assert!(refused(project, &ServerPolicy::strict()).contains("projects[0].repo_locks"));
    let ok = policy("", "acme/*:repo_locks", "");
    assert_eq!(check(&config(top), REPO, &ok), Ok(()));
    assert_eq!(check(&config(project), REPO, &ok), Ok(()));
    let on_plan = "version: 3\nrepo_locks: {mode: on_plan}\n";
    assert_eq!(
        check(&config(on_plan), REPO, &ServerPolicy::strict()),
        Ok(())
    );
}
