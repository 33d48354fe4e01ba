//! Atlantis's own repo-config test cases (`../shared/atlantis-compat/repo-config-cases.json`,
//! transcribed from its Go tests) run through bosun's reader: a case passes when bosun accepts
//! what Atlantis accepts, refuses what it refuses, and reads the values both have the same way.
//! Where bosun differs on purpose the case is listed in [`DEVIATIONS`] with the reason (the
//! README's "Atlantis compatibility" section has the same table). Skipped, with a notice, when
//! the data is not there.

use serde_json::{Value as Json, json};

use super::{ApplyRequirement, OtherStep, RepoConfig, Workflow, WorkflowStep};
use crate::config::powers::{self, ServerPolicy};

const DATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/atlantis-compat/repo-config-cases.json"
);

/// Every case where bosun deliberately reads a file differently from Atlantis: id, reason.
const DEVIATIONS: &[(&str, &str)] = &[
    (
        "TestParseRepoCfg#032",
        "a `plan` step among the apply steps is refused: an apply applies the plan that was \
         reviewed, never a new one",
    ),
    (
        "TestParseRepoCfg#033",
        "a `plan` step among the apply steps is refused: an apply applies the plan that was \
         reviewed, never a new one",
    ),
    // Parts of a file the Go test only decodes; Atlantis's whole-file parse refuses them too.
    ("TestConfig_UnmarshalYAML#001", ONLY_DECODED),
    ("TestConfig_UnmarshalYAML#002", ONLY_DECODED),
    ("TestConfig_UnmarshalYAML#006", ONLY_DECODED),
    ("TestConfig_UnmarshalYAML#007", ONLY_DECODED),
    ("TestProject_UnmarshalYAML#001", ONLY_DECODED),
    ("TestStage_UnmarshalYAML#002", ONLY_DECODED),
    ("TestStepConfig_YAMLMarshalling#001", ONLY_DECODED),
    ("TestStepConfig_YAMLMarshalling#002", ONLY_DECODED),
    ("TestStepConfig_YAMLMarshalling#003", ONLY_DECODED),
    ("TestStepConfig_YAMLMarshalling#004", ONLY_DECODED),
    ("TestStepConfig_YAMLMarshalling#008", ONLY_DECODED),
    ("TestStepConfig_YAMLMarshalling#009", ONLY_DECODED),
    (
        "TestAutoPlan_UnmarshalYAML#004",
        "an empty `when_modified` pattern is refused: it matches nothing and is most likely a slip",
    ),
    (
        "TestProject_UnmarshalYAML#002",
        "the Go test only decodes one project; in a whole file the workflow it names \
         (`workflow`) is not defined, which Atlantis's whole-file parse refuses too",
    ),
    (
        "TestProject_ToValid#002",
        "the Go test completes one project alone; in a whole file the workflow it names \
         (`myworkflow`) is not defined, which Atlantis's whole-file parse refuses too",
    ),
    (
        "TestProject_Validate#004",
        "`branch` may also be a bare regex (Atlantis wants it between slashes): a bosun \
         extension that reads the same",
    ),
    (
        "TestProject_Validate#040",
        "a name on a glob dir is accepted and dropped, as Atlantis's whole-file parse does \
         (TestParseRepoCfg_GlobExpansionNoNameCopy#001); this Go test sees it before expansion",
    ),
    (
        "TestProject_Validate#041",
        "a name on a glob dir is accepted and dropped, as Atlantis's whole-file parse does",
    ),
    ("TestProject_Validate#048", WORKSPACE_CHARS),
    ("TestProject_Validate#049", WORKSPACE_CHARS),
    ("TestProject_Validate#051", WORKSPACE_CHARS),
    ("TestProject_Validate#052", WORKSPACE_CHARS),
];

const ONLY_DECODED: &str = "the Go test only decodes this part of a file; Atlantis's \
                            whole-file parse refuses it too (no version, no dir, or not a step)";
const WORKSPACE_CHARS: &str = "a workspace name holds only letters, digits, `-`, `_` and `.`: \
                               shell characters (`;`, `&`, `|`, backticks) in a name that \
                               reaches Terraform, environment variables and paths serve no one";

/// The levels of the data this test runs: whole files, then the Go tests of one part of a
/// file (decoded only, validated, or turned into the valid config), each run as the smallest
/// whole file holding that part (see [`whole_file`]).
const COVERED: &[&str] = &[
    "full_parse",
    "unmarshal_only",
    "validate_only(go_struct)",
    "to_valid(go_struct)",
];

#[test]
fn atlantis_repo_config_cases() {
    let Ok(text) = std::fs::read_to_string(DATA) else {
        println!("notice: {DATA} is not there; Atlantis's repo-config cases were not run");
        return;
    };
    let cases: Vec<Json> = serde_json::from_str(&text).expect("the cases are JSON");
    let mut failures = Vec::new();
    for level in COVERED {
        let (mut passed, mut deviations, mut unexplained, mut no_yaml) = (0, 0, 0, 0);
        for case in cases.iter().filter(|c| c["level"] == *level) {
            let id = case["id"].as_str().unwrap_or_default();
            let listed = DEVIATIONS.iter().find(|(d, _)| *d == id);
            let Some(yaml) = whole_file(case) else {
                no_yaml += 1;
                continue;
            };
            match (run_case(case, &yaml), listed) {
                (None, None) => passed += 1,
                (None, Some(_)) => failures.push(format!("{id}: listed as a deviation but passes")),
                (Some(_), Some(_)) => deviations += 1,
                (Some(why), None) => {
                    deviations += 1;
                    unexplained += 1;
                    failures.push(format!("{id} ({}): {why}", case["name"]));
                }
            }
        }
        let skipped = match no_yaml {
            0 => String::new(),
            n => format!("; {n} not run (a Go value YAML cannot express)"),
        };
        println!(
            "repo-config-cases.json ({level}): {passed} passed, {deviations} deviations \
             ({unexplained} unexplained){skipped}"
        );
    }
    for (id, _) in DEVIATIONS {
        if !cases.iter().any(|c| c["id"] == *id) {
            failures.push(format!("{id}: listed as a deviation but not in the data"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The whole file a case stands for: its `yaml`, else the YAML written for its Go value, put
/// where that part of a file goes (a step in the stage it belongs to); `None`: no YAML.
fn whole_file(case: &Json) -> Option<String> {
    let text = case["yaml"]
        .as_str()
        .or(case["yaml_equivalent_synthesized"].as_str())
        .or((case["level"] == "unmarshal_only").then_some(""))?;
    let indent = |n: usize| -> String {
        let text = if text.trim().is_empty() { "~" } else { text };
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| format!("{}{l}\n", " ".repeat(n)))
            .collect()
    };
    let head = "version: 3\n";
    Some(match case["fragment"].as_str()? {
        "file" => text.to_owned(),
        "project" => format!("{head}projects:\n-\n{}", indent(2)),
        "autoplan" => format!("{head}projects:\n- dir: .\n  autoplan:\n{}", indent(4)),
        part @ ("autodiscover" | "repo_locks") => format!("{head}{part}:\n{}", indent(2)),
        "workflow" => format!("{head}workflows:\n  w:\n{}", indent(4)),
        "stage" => format!("{head}workflows:\n  w:\n    plan:\n{}", indent(6)),
        "step" => {
            let kind = text.trim().trim_matches('"');
            let stage = ["apply", "import", "state_rm", "policy_check"]
                .into_iter()
                .find(|k| kind.starts_with(k))
                .unwrap_or("plan");
            format!(
                "{head}workflows:\n  w:\n    {stage}:\n      steps:\n      -\n{}",
                indent(8)
            )
        }
        _ => return None,
    })
}

/// How bosun differs from Atlantis on one case read as `yaml`; `None`: it does not.
fn run_case(case: &Json, yaml: &str) -> Option<String> {
    let valid = case["valid"].as_bool().unwrap_or(false);
    let mut read = super::parse("atlantis.yaml", yaml);
    // The one case read with Atlantis's default server config, which allows no overrides.
    let server = case["server_config"].as_str().unwrap_or_default();
    if server.contains("DEFAULT server config")
        && let Ok(config) = &read
        && let Err(e) = powers::check(
            config,
            &ServerPolicy::strict().for_repo("owner/repo", "main"),
        )
    {
        read = Err(e);
    }
    // Glob dirs expand against the files the test creates beside the config.
    if let (Ok(config), Some(files)) = (&mut read, case["fixture_files"].as_object()) {
        let dirs = super::terraform_dirs(files.keys().map(String::as_str));
        if let Err(e) = config.expand_dir_globs(&dirs) {
            read = Err(e);
        }
    }
    match (read, valid) {
        (Ok(config), true) if case["level"] == "full_parse" => {
            compare(&as_atlantis(&config), &case["expect"])
        }
        (Ok(_), true) => None,
        (Err(_), false) => None,
        (Ok(_), false) => Some(format!(
            "Atlantis refuses it ({}); bosun accepts it",
            case["atlantis_error"]
        )),
        (Err(e), true) => Some(format!("Atlantis accepts it; bosun refuses it: {e}")),
    }
}

/// Whether bosun's reading has what `expect` says Atlantis reads (keys `expect` leaves out
/// are not checked); the difference, if any.
fn compare(actual: &Json, expect: &Json) -> Option<String> {
    let Json::Object(expect) = expect else {
        return None;
    };
    for (key, want) in expect {
        let got = match key.as_str() {
            "project_dirs_unordered" => {
                let mut dirs: Vec<Json> =
                    projects(actual).iter().map(|p| p["dir"].clone()).collect();
                let mut want = want.as_array().cloned().unwrap_or_default();
                dirs.sort_by_key(Json::to_string);
                want.sort_by_key(Json::to_string);
                if dirs != want {
                    return Some(format!("project dirs: want {want:?}, got {dirs:?}"));
                }
                continue;
            }
            "project_count" => json!(projects(actual).len()),
            "every_project" => {
                for p in projects(actual) {
                    if let Some(d) = differs(p, want) {
                        return Some(format!("a project: {d}"));
                    }
                }
                continue;
            }
            path => at_path(actual, path),
        };
        if let Some(d) = differs(&got, want) {
            return Some(format!("{key}: {d}"));
        }
    }
    None
}

fn projects(actual: &Json) -> &[Json] {
    actual["projects"].as_array().map_or(&[], Vec::as_slice)
}

/// The value at a path like `workflows.custom.plan.steps[0].run_command`.
fn at_path(value: &Json, path: &str) -> Json {
    let mut at = value;
    for part in path.split('.') {
        let (name, index) = match part.split_once('[') {
            Some((name, rest)) => (name, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        at = &at[name];
        if let Some(i) = index {
            at = &at[i];
        }
    }
    at.clone()
}

/// How `got` differs from `want`: maps compare only the keys `want` has, and a null stands
/// for an empty list or map (Go's nil).
fn differs(got: &Json, want: &Json) -> Option<String> {
    let empty = |v: &Json| {
        v.is_null()
            || v.as_array().is_some_and(Vec::is_empty)
            || v.as_object().is_some_and(|m| m.is_empty())
    };
    match (got, want) {
        _ if empty(got) && empty(want) => None,
        (Json::Object(g), Json::Object(w)) => w.iter().find_map(|(k, wv)| {
            differs(g.get(k).unwrap_or(&Json::Null), wv).map(|d| format!("{k}: {d}"))
        }),
        (Json::Array(g), Json::Array(w)) if g.len() == w.len() => g
            .iter()
            .zip(w)
            .enumerate()
            .find_map(|(i, (gv, wv))| differs(gv, wv).map(|d| format!("[{i}]: {d}"))),
        _ if got == want => None,
        _ => Some(format!("want {want}, got {got}")),
    }
}

/// bosun's reading in the shape of Atlantis's parsed config (yaml-style keys), with
/// Atlantis's default steps where bosun runs its own defaults.
fn as_atlantis(config: &RepoConfig) -> Json {
    let projects: Vec<Json> = config
        .projects
        .iter()
        .map(|p| {
            json!({
                "name": p.name,
                "dir": p.dir,
                "workspace": p.workspace,
                "workflow": p.workflow,
                "terraform_version": p.terraform_version,
                "terraform_distribution": p.terraform_distribution.map(|d| d.to_string()),
                "plan_requirements": requirements(&p.plan_requirements),
                "autoplan": { "enabled": p.autoplan_enabled, "when_modified": p.when_modified },
                "apply_requirements": requirements(&p.apply_requirements),
            })
        })
        .collect();
    let workflows: serde_json::Map<String, Json> = config
        .workflows
        .iter()
        .map(|w| (w.name.clone(), workflow(w)))
        .collect();
    json!({ "version": config.version, "projects": projects, "workflows": workflows })
}

fn requirements(list: &[ApplyRequirement]) -> Vec<&'static str> {
    list.iter()
        .map(|r| match r {
            ApplyRequirement::Approved => "approved",
            ApplyRequirement::Mergeable => "mergeable",
            ApplyRequirement::Undiverged => "undiverged",
            ApplyRequirement::PoliciesPassed => "policies_passed",
        })
        .collect()
}

fn workflow(w: &Workflow) -> Json {
    let stage = |steps: Vec<Json>| json!({ "steps": steps });
    let common = |steps: &Option<Vec<WorkflowStep>>, default: &[&str]| match steps {
        Some(steps) => stage(steps.iter().map(step).collect()),
        None => stage(default.iter().map(|s| json!({ "step": s })).collect()),
    };
    let other = |name: &str, default: &[&str]| match w.other_stages.iter().find(|(n, _)| n == name)
    {
        Some((_, steps)) => stage(steps.iter().map(other_step).collect()),
        None => stage(default.iter().map(|s| json!({ "step": s })).collect()),
    };
    json!({
        "name": w.name,
        "plan": common(&w.plan, &["init", "plan"]),
        "apply": common(&w.apply, &["apply"]),
        "policy_check": other("policy_check", &["show", "policy_check"]),
        "import": other("import", &["init", "import"]),
        "state_rm": other("state_rm", &["init", "state_rm"]),
    })
}

fn step(s: &WorkflowStep) -> Json {
    match s {
        WorkflowStep::Init { extra_args } => json!({ "step": "init", "extra_args": extra_args }),
        WorkflowStep::Plan { extra_args } => json!({ "step": "plan", "extra_args": extra_args }),
        WorkflowStep::Apply { extra_args } => json!({ "step": "apply", "extra_args": extra_args }),
        WorkflowStep::Run(c) => json!({ "step": "run", "run_command": c.command,
            "output": outputs(&c.output, true) }),
        WorkflowStep::MultiEnv(c) => json!({ "step": "multienv", "run_command": c.command,
            "output": outputs(&c.output, false) }),
        WorkflowStep::Env { name, value } => match value {
            super::EnvValue::Value(v) => {
                json!({ "step": "env", "env_var_name": name, "env_var_value": v })
            }
            super::EnvValue::Command(c) => {
                json!({ "step": "env", "env_var_name": name, "run_command": c.command })
            }
        },
    }
}

/// Atlantis's `output` list: a `run` step's is `show` unless it says.
fn outputs(o: &super::Output, run: bool) -> Vec<&'static str> {
    let mut list = Vec::new();
    if o.hide {
        list.push("hide");
    }
    if o.strip_refreshing {
        list.push("strip_refreshing");
    }
    if !o.filter_regexes.is_empty() {
        list.push("filter_regex");
    }
    if list.is_empty() && run {
        list.push("show");
    }
    list
}

fn other_step(s: &OtherStep) -> Json {
    match s {
        OtherStep::Common(s) => step(s),
        OtherStep::Show => json!({ "step": "show" }),
        OtherStep::PolicyCheck { extra_args } => {
            json!({ "step": "policy_check", "extra_args": extra_args })
        }
        OtherStep::Import { extra_args } => json!({ "step": "import", "extra_args": extra_args }),
        OtherStep::StateRm { extra_args } => {
            json!({ "step": "state_rm", "extra_args": extra_args })
        }
    }
}
