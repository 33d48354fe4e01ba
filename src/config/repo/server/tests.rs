use super::*;
use crate::config::powers::{self, AllowedOverrides, Requirements, ServerPolicy};
use crate::config::repo::parse_with;

const SERVER: &str = "\
repos:
- id: /.*/
  apply_requirements: [approved]
  allowed_overrides: [workflow]
  allowed_workflows: [terragrunt, default]
- id: acme/infra
  branch: /^main$/
  apply_requirements: [approved, mergeable]
  plan_requirements: [approved]
  allow_custom_workflows: true
  workflow: terragrunt
  repo_config_file: infra/bosun.yaml
  repo_locks:
    mode: on_apply
workflows:
  terragrunt:
    plan:
      steps:
      - run: terragrunt plan -out $PLANFILE
";

fn server(text: &str) -> ServerConfig {
    parse("repos.yaml", text).unwrap_or_else(|e| panic!("{e}"))
}

fn policy(text: &str) -> ServerPolicy {
    ServerPolicy {
        server: Some(std::sync::Arc::new(server(text))),
        ..ServerPolicy::strict()
    }
}

fn error(text: &str) -> String {
    parse("repos.yaml", text).unwrap_err().to_string()
}

#[test]
fn later_entries_win_key_by_key_for_the_repos_and_branches_they_match() {
    let p = policy(SERVER);
    let main = p.for_repo("acme/infra", "main");
    use ApplyRequirement::*;
    assert_eq!(main.apply_requirements, [Approved, Mergeable]);
    assert_eq!(main.plan_requirements, [Approved]);
    // The first entry's keys the second does not set stay.
    assert_eq!(main.allowed_overrides, [Override::Workflow]);
    assert_eq!(main.allowed_workflows, ["terragrunt", "default"]);
    assert!(main.allow_custom_workflows);
    assert_eq!(main.workflow.as_deref(), Some("terragrunt"));
    assert_eq!(main.repo_config_file.as_deref(), Some("infra/bosun.yaml"));
    assert_eq!(main.repo_locks, Some(LockMode::OnApply));
    assert_eq!(main.server_workflow_names(), ["terragrunt"]);
    // Another base branch of the same repo: only the regex entry.
    let dev = p.for_repo("acme/infra", "develop");
    assert_eq!(dev.apply_requirements, [Approved]);
    assert!(!dev.allow_custom_workflows && dev.workflow.is_none());
    // Names compare without case; another repository gets the first entry only.
    assert!(p.for_repo("ACME/Infra", "main").allow_custom_workflows);
    let other = p.for_repo("acme/web", "main");
    assert_eq!(other.apply_requirements, [Approved]);
    assert!(other.repo_config_file.is_none());
}

#[test]
fn the_settings_act_as_a_first_entry_that_the_file_overrides() {
    let mut p = policy("repos:\n- id: /^acme\\/.*$/\n  allowed_overrides: [repo_locks]\n");
    p.allowed_overrides = AllowedOverrides::parse("workflow,apply_requirements").unwrap();
    p.apply_requirements = vec![ApplyRequirement::Approved];
    let acme = p.for_repo("acme/infra", "main");
    assert_eq!(acme.allowed_overrides, [Override::RepoLocks], "replaced");
    assert_eq!(
        acme.apply_requirements,
        [ApplyRequirement::Approved],
        "kept"
    );
    let other = p.for_repo("zeta/infra", "main");
    assert_eq!(
        other.allowed_overrides,
        [Override::ApplyRequirements, Override::Workflow]
    );
}

#[test]
fn atlantis_id_and_older_keys_read_as_atlantis_reads_them() {
    let p = policy(
        "repos:\n- id: github.com/acme/infra\n  repo_locking: false\n  allowed_overrides: [repo_locking]\n",
    );
    let r = p.for_repo("acme/infra", "main");
    assert_eq!(r.repo_locks, Some(LockMode::Disabled));
    assert_eq!(r.allowed_overrides, [Override::RepoLocks]);
    // An unanchored regex written for `github.com/owner/name` matches too.
    let p = policy("repos:\n- id: /github.com\\/acme\\//\n  apply_requirements: [mergeable]\n");
    assert_eq!(
        p.for_repo("acme/infra", "main").apply_requirements,
        [ApplyRequirement::Mergeable]
    );
}

#[test]
fn errors_name_the_file_line_column_and_key() {
    for (text, want) in [
        (
            "repos:\n- id: acme/infra\n  apply_requirements: [aproved]\n",
            "repos.yaml:3:24: repos[0].apply_requirements[0]: `aproved` is not one of approved, mergeable, undiverged, policies_passed",
        ),
        (
            "repos:\n- branch: /main/\n",
            "repos.yaml:2:3: repos[0].id: missing: each entry names its repositories (`owner/name` or `/regex/`)",
        ),
        (
            "repos:\n- id: /acme(/\n",
            "repos.yaml:2:7: repos[0].id: `/acme(/` is not a valid regex: error: unclosed group",
        ),
        (
            "repos:\n- id: acme\n",
            "repos.yaml:2:7: repos[0].id: `acme` is neither `owner/name` nor a `/regex/`",
        ),
        (
            "repos:\n- id: acme/infra\n  branch: main\n",
            "repos.yaml:3:11: repos[0].branch: `main` is not a regex between slashes, like `/^main$/`",
        ),
        (
            "repos:\n- id: acme/infra\n  allowed_overrides: [everything]\n",
            "repos.yaml:3:23: repos[0].allowed_overrides[0]: `everything` is not a key a repo may be allowed to set",
        ),
        (
            "repos:\n- id: acme/infra\n  workflow: nowhere\n",
            "repos.yaml:3:3: repos[0].workflow: the workflow `nowhere` is not defined under the file's `workflows`",
        ),
        (
            "repos:\n- id: acme/infra\n  repo_config_file: ../etc/passwd\n",
            "repos.yaml:3:21: repos[0].repo_config_file: `../etc/passwd` is not a relative path inside the repository",
        ),
        (
            "repos:\n- id: acme/infra\n  aply_requirements: []\n",
            "repos.yaml:3:3: repos[0].aply_requirements: unknown key (did you mean `apply_requirements`?)",
        ),
        (
            "repos:\n- id: acme/infra\n  pre_workflow_hooks:\n  - description: no command\n",
            "repos.yaml:4:5: repos[0].pre_workflow_hooks[0].run: missing: the command the hook runs",
        ),
        (
            "repos:\n- id: acme/infra\n  post_workflow_hooks:\n  - run: x\n    commands: plan, destroy\n",
            "repos.yaml:5:15: repos[0].post_workflow_hooks[0].commands: `destroy` is not a command bosun runs hooks for",
        ),
        (
            "repos:\n- id: acme/infra\n  pre_workflow_hooks:\n  - run: x\n    blocking: maybe\n",
            "repos.yaml:5:15: repos[0].pre_workflow_hooks[0].blocking: expected true or false",
        ),
        (
            "repos:\n- id: acme/infra\n  pre_workflow_hooks:\n  - run: x\n    shell: /bin/bash\n",
            "repos.yaml:5:12: repos[0].pre_workflow_hooks[0].shell: name the shell",
        ),
        (
            "repos:\n- id: acme/infra\n  pre_workflow_hooks:\n  - run: x\n    output: hide\n",
            "repos.yaml:5:5: repos[0].pre_workflow_hooks[0].output: unknown key",
        ),
        (
            "repos:\n- id: acme/infra\n  policy_check: true\n",
            "repos.yaml:3:3: repos[0].policy_check: policy checks are on, but `policies.policy_sets` defines no policy set",
        ),
        (
            "policies:\n  polcy_sets: []\n",
            "repos.yaml:2:3: policies.polcy_sets: unknown key (did you mean `policy_sets`?)",
        ),
        (
            "policies:\n  policy_sets:\n  - name: a\n    path: nowhere\n",
            "repos.yaml:4:11: policies.policy_sets[0].path: nowhere: cannot read",
        ),
        (
            "policies:\n  policy_sets:\n  - name: a\n    source: github\n    path: p\n",
            "repos.yaml:4:13: policies.policy_sets[0].source: `github` is not a source bosun reads",
        ),
        (
            "policies:\n  policy_sets:\n  - name: a\n    approve_count: 0\n    path: p\n",
            "repos.yaml:4:20: policies.policy_sets[0].approve_count: expected a number from 1 to 100",
        ),
        (
            "policies:\n  policy_sets:\n  - name: a\n    source: repo\n    path: ../x\n",
            "repos.yaml:5:11: policies.policy_sets[0].path: `../x` is not a relative path inside the repository",
        ),
        (
            "policies:\n  owners:\n    teams: [a/b/c]\n",
            "repos.yaml:3:12: policies.owners.teams[0]: `a/b/c` is not a team",
        ),
        (
            "repos:\n- id: acme/infra\n  custom_policy_check: true\n",
            "repos.yaml:3:3: repos[0].custom_policy_check: custom policy checks (a workflow's own policy_check steps) are not run by bosun",
        ),
        ("repos: [\n", "repos.yaml:2:1: "),
        ("", "repos.yaml:1:1: the file is empty"),
    ] {
        let e = error(text);
        assert!(e.starts_with(want), "{text:?}:\n  got  {e}\n  want {want}");
    }
}

#[test]
fn a_project_may_select_a_server_workflow_where_the_rules_allow_it() {
    let p = policy(SERVER);
    let rules = p.for_repo("acme/web", "main");
    let names = rules.server_workflow_names();
    let text = "version: 3\nprojects:\n- dir: a\n  workflow: terragrunt\n";
    // Without the server's workflows it names nothing.
    assert!(
        parse_with("bosun.yaml", text, &[])
            .unwrap_err()
            .to_string()
            .contains("no workflow is named `terragrunt`")
    );
    let mut config = parse_with("bosun.yaml", text, &names).unwrap();
    assert_eq!(powers::check(&config, &rules), Ok(()));
    rules.complete(&mut config);
    let w = config
        .workflow_of(&"a".into(), &"default".into(), None)
        .expect("the server's");
    assert_eq!(w.name, "terragrunt");
    // A server workflow outside `allowed_workflows` is refused, naming the list; a workflow
    // the repo config defines itself (custom workflows allowed) is its own, as in Atlantis.
    let p = policy(&format!("{SERVER}  legacy: ~\n"));
    let rules = p.for_repo("acme/web", "main");
    let names = rules.server_workflow_names();
    let text = "version: 3\nprojects:\n- dir: a\n  workflow: legacy\n";
    let config = parse_with("bosun.yaml", text, &names).unwrap();
    let e = powers::check(&config, &rules).unwrap_err().to_string();
    assert_eq!(
        e,
        "bosun.yaml:4:3: projects[0].workflow: the workflow `legacy` is not allowed for acme/web \
         (the server config's allowed_workflows: terragrunt, default)"
    );
    let text = "version: 3\nprojects:\n- dir: a\n  workflow: mine\nworkflows:\n  mine: ~\n";
    let config = parse_with("bosun.yaml", text, &names).unwrap();
    let allowed_custom = ServerPolicy {
        allow_custom_workflows: crate::config::RepoAllowlist::parse("*/*").unwrap(),
        ..p.clone()
    };
    assert_eq!(
        powers::check(&config, &allowed_custom.for_repo("acme/web", "main")),
        Ok(())
    );
}

#[test]
fn the_servers_values_fill_what_a_repo_config_does_not_set_and_bind_what_it_does() {
    let p = policy(SERVER);
    let rules = p.for_repo("acme/infra", "main");
    // Custom workflows are allowed for acme/infra on main; `workflow` is the server's.
    let mut config = parse_with("bosun.yaml", "version: 3\nprojects:\n- dir: a\n", &[]).unwrap();
    assert_eq!(powers::check(&config, &rules), Ok(()));
    rules.complete(&mut config);
    assert_eq!(config.repo_locks, LockMode::OnApply);
    assert_eq!(config.projects[0].workflow.as_deref(), Some("terragrunt"));
    // Setting it otherwise is an override the rules do not allow.
    let config = parse_with(
        "bosun.yaml",
        "version: 3\nrepo_locks:\n  mode: on_plan\nprojects:\n- dir: a\n",
        &[],
    )
    .unwrap();
    let e = powers::check(&config, &rules).unwrap_err().to_string();
    assert!(
        e.starts_with(
            "bosun.yaml:2:1: repo_locks: `repo_locks` mode `on_plan` is not allowed (the server's is `on_apply`)"
        ),
        "{e}"
    );
    // Dropping a plan requirement the server demands needs `plan_requirements` allowed.
    let config = parse_with(
        "bosun.yaml",
        "version: 3\nprojects:\n- dir: a\n  plan_requirements: []\n",
        &[],
    )
    .unwrap();
    let e = powers::check(&config, &rules).unwrap_err().to_string();
    assert!(
        e.contains("projects[0].plan_requirements: every project must require `approved`"),
        "{e}"
    );
    assert_eq!(
        rules.minimum(
            Requirements::Plan,
            None,
            (&"x".into(), &"default".into(), None)
        ),
        [ApplyRequirement::Approved]
    );
}

#[test]
fn every_default_the_server_sets_fills_an_unset_key_and_leaves_a_set_one() {
    let p = policy(
        "repos:\n- id: acme/infra\n  delete_source_branch_on_merge: true\n  autodiscover:\n    \
         mode: disabled\n  silence_pr_comments: [apply]\n  allowed_overrides: [autodiscover]\n",
    );
    let rules = p.for_repo("acme/infra", "main");
    let mut unset = parse_with("bosun.yaml", "version: 3\nprojects:\n- dir: a\n", &[]).unwrap();
    assert_eq!(powers::check(&unset, &rules), Ok(()));
    rules.complete(&mut unset);
    assert!(unset.delete_source_branch_on_merge);
    assert!(!unset.discovers(), "the server's `disabled`");
    assert_eq!(unset.silence_pr_comments, ["apply"]);
    // `autodiscover` is allowed, so the repo's own stands.
    let mut own = parse_with(
        "bosun.yaml",
        "version: 3\nautodiscover:\n  mode: enabled\nprojects:\n- dir: a\n",
        &[],
    )
    .unwrap();
    assert_eq!(powers::check(&own, &rules), Ok(()));
    rules.complete(&mut own);
    assert!(own.discovers());
    // `silence_pr_comments` is not: a list other than the server's is refused.
    let other = parse_with(
        "bosun.yaml",
        "version: 3\nsilence_pr_comments: [plan]\nprojects:\n- dir: a\n",
        &[],
    )
    .unwrap();
    let e = powers::check(&other, &rules).unwrap_err().to_string();
    assert!(
        e.starts_with("bosun.yaml:2:1: silence_pr_comments: a `silence_pr_comments` other than the server's is not allowed"),
        "{e}"
    );
}

#[test]
fn hooks_read_as_atlantis_writes_them_and_the_last_entry_setting_them_wins() {
    let text = "\
repos:
- id: /.*/
  pre_workflow_hooks:
  - run: terragrunt-atlantis-config generate --output atlantis.yaml
    description: generate
  post_workflow_hooks:
  - run: infracost comment
    shell: bash
    shellArgs: -e -c
    commands: plan, apply
- id: acme/infra
  pre_workflow_hooks:
  - run: ./check.sh
    commands: [plan]
    blocking: false
";
    let p = policy(text);
    let other = p.for_repo("acme/other", "main");
    let [pre] = other.pre_workflow_hooks.as_slice() else {
        panic!("{other:?}")
    };
    assert_eq!(pre.name(), "generate");
    assert!(pre.blocking && pre.runs_for("apply") && pre.runs_for("import"));
    let [post] = other.post_workflow_hooks.as_slice() else {
        panic!("{other:?}")
    };
    assert_eq!(post.name(), "infracost comment");
    let shell = post.run.shell.as_ref().unwrap();
    assert_eq!(
        (shell.program.as_str(), shell.args.clone()),
        ("bash", vec!["-e".to_owned(), "-c".to_owned()])
    );
    assert!(post.runs_for("plan") && post.runs_for("apply") && !post.runs_for("state"));
    // The exact entry's pre hooks replace the regex entry's; its post hooks are inherited.
    let infra = p.for_repo("acme/infra", "main");
    let [pre] = infra.pre_workflow_hooks.as_slice() else {
        panic!("{infra:?}")
    };
    assert_eq!(pre.name(), "./check.sh");
    assert!(!pre.blocking && pre.runs_for("plan") && !pre.runs_for("apply"));
    assert_eq!(infra.post_workflow_hooks.len(), 1);
}

#[test]
fn policies_are_read_with_their_rego_and_policy_check_turns_them_on_per_entry() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sets")).unwrap();
    std::fs::write(
        dir.path().join("sets/deny.rego"),
        "package deny\nimport rego.v1\ndeny contains \"no\" if { input.bad }\n",
    )
    .unwrap();
    let text = "repos:\n\
                - id: /.*/\n  policy_check: true\n\
                - id: acme/web\n  policy_check: false\n\
                policies:\n  \
                  conftest_version: v0.46.0\n  \
                  owners: {users: [dana], teams: [acme/sec]}\n  \
                  policy_sets:\n  \
                  - name: deny\n    path: sets\n    source: local\n    approve_count: 2\n    \
                    prevent_self_approve: true\n    owners: {users: [carol]}\n";
    let file = dir.path().join("repos.yaml");
    let config = parse(file.to_str().unwrap(), text).unwrap_or_else(|e| panic!("{e}"));
    let p = &config.policies;
    assert_eq!(p.owners.users, ["dana"]);
    assert_eq!(p.owners.teams, ["acme/sec"]);
    let set = p.set("deny").unwrap();
    assert_eq!(set.approve_count, 2);
    assert!(set.prevent_self_approve);
    assert_eq!(set.owners.users, ["carol"]);
    assert_eq!(set.modules.len(), 1);
    assert!(set.modules[0].path.ends_with("sets/deny.rego"));
    let rules = ServerPolicy {
        server: Some(std::sync::Arc::new(config)),
        ..ServerPolicy::strict()
    };
    assert!(rules.for_repo("acme/infra", "main").policies().is_some());
    assert!(
        rules.for_repo("acme/web", "main").policies().is_none(),
        "a later entry wins"
    );
    assert!(
        policy(SERVER)
            .for_repo("acme/infra", "main")
            .policies()
            .is_none()
    );

    // Rego that does not parse is refused at the place of `path`, naming its file and line.
    std::fs::write(
        dir.path().join("sets/bad.rego"),
        "package bad\ndeny contains if\n",
    )
    .unwrap();
    let e = parse(file.to_str().unwrap(), text).unwrap_err().to_string();
    assert!(e.contains("policies.policy_sets[0].path: "), "{e}");
    assert!(e.contains("bad.rego:2"), "{e}");
}

#[test]
fn policies_passed_is_an_apply_requirement() {
    let p = policy("repos:\n- id: /.*/\n  apply_requirements: [approved, policies_passed]\n");
    assert_eq!(
        p.for_repo("acme/infra", "main").apply_requirements,
        [ApplyRequirement::Approved, ApplyRequirement::PoliciesPassed]
    );
}
