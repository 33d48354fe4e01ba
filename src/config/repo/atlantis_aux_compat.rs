//! Atlantis's related cases (`../shared/atlantis-compat/repo-config-aux-cases.json`, read when
//! it is there): workspace names, glob patterns, which directories are Terraform projects, `-p`
//! as a pattern, did-you-mean, and a repo config checked against the server's powers. Each case
//! runs through the bosun function that does the same job; per Atlantis function the test
//! prints `N passed, M deviations`. Every deviation is in [`DEVIATIONS`] with its reason (the
//! README's "Atlantis compatibility" section has the same table); a case that neither passes
//! nor is listed fails the test, and so does a listed case that passes.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::{DEFAULT_WHEN_MODIFIED, FILE_NAMES, dir_globs, is_project_file, terraform_dirs};
use crate::command::{Command, CommandKind, NameMatcher};
use crate::config::powers::{self, AllowedOverrides, ServerPolicy};
use crate::ids::{Dir, Workspace};
use crate::plan::Target;

const DATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/atlantis-compat/repo-config-aux-cases.json"
);

/// Why a case may differ. The README's table gives each reason.
const NO_DIRECTORY: &str = "bosun reads the repo config from the commit's git \
     objects, not from a directory on disk: there is no directory or file mode to fail on (a \
     missing file is no config)";
const REGEXP_OPT_IN: &str = "`-p` is a pattern only when it starts with a prefix \
     the repo config's `allowed_regexp_prefixes` lists, else an exact name: bosun has no \
     `--enable-regexp-cmd`, the repo config opts in (Atlantis also reads a pattern without \
     an allowed prefix when it matches one project, or any when the list is empty)";
const NO_SERVER_DISCOVER_MODE: &str = "bosun has no server-wide default autodiscover mode \
     (Atlantis's `--autodiscover-mode`); a server config entry's `autodiscover` is the default \
     of the repositories it names, and a repo config that sets no mode and has no such entry \
     gets Atlantis's default, `auto`";

enum Which {
    /// Every case of this Atlantis function.
    Function(&'static str),
    /// One case, by id.
    Case(&'static str),
}

/// The one list of deliberate deviations from Atlantis's related cases.
const DEVIATIONS: &[(Which, &str)] = &[
    (Which::Function("ParseRepoCfg"), NO_DIRECTORY),
    (
        Which::Case("TestConfig_FindProjectsByDir#003"),
        REGEXP_OPT_IN,
    ),
    (
        Which::Case("TestConfig_FindProjectsByDir#004"),
        REGEXP_OPT_IN,
    ),
    (
        Which::Case("TestConfig_AutoDiscoverEnabled#002"),
        NO_SERVER_DISCOVER_MODE,
    ),
    (
        Which::Case("TestConfig_AutoDiscoverEnabled#004"),
        NO_SERVER_DISCOVER_MODE,
    ),
];

fn deviation(case: &Json) -> Option<&'static str> {
    DEVIATIONS.iter().find_map(|(which, reason)| {
        let hit = match which {
            Which::Function(f) => case["function"] == *f,
            Which::Case(id) => case["id"] == *id,
        };
        hit.then_some(*reason)
    })
}

#[test]
fn atlantis_aux_cases() {
    let Ok(text) = std::fs::read_to_string(DATA) else {
        println!("notice: {DATA} is not there; Atlantis's related cases were not run");
        return;
    };
    let cases: Vec<Json> = serde_json::from_str(&text).expect("the cases are JSON");
    let mut failures = Vec::new();
    for (which, _) in DEVIATIONS {
        let (key, name) = match which {
            Which::Function(f) => ("function", f),
            Which::Case(id) => ("id", id),
        };
        if !cases.iter().any(|c| c[key] == **name) {
            failures.push(format!("deviation {name} names no case"));
        }
    }
    // Per Atlantis function: passed, deviations.
    let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for case in &cases {
        let id = case["id"].as_str().unwrap_or_default();
        let function = case["function"].as_str().unwrap_or_default();
        let count = counts.entry(function.to_owned()).or_default();
        match (run(case), deviation(case)) {
            (Ok(()), None) => count.0 += 1,
            (Ok(()), Some(_)) => failures.push(format!("{id}: listed as a deviation but passes")),
            (Err(_), Some(_)) => count.1 += 1,
            (Err(why), None) => {
                count.1 += 1;
                failures.push(format!("{id}: {why}"));
            }
        }
    }
    let (passed, deviations) = counts
        .values()
        .fold((0, 0), |(p, d), (cp, cd)| (p + cp, d + cd));
    println!("repo-config-aux-cases.json: {passed} passed, {deviations} deviations");
    for (function, (p, d)) in &counts {
        println!("  {function}: {p} passed, {d} deviations");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_aux_deviation_reason_is_in_the_readme() {
    let readme = include_str!("../../../README.md");
    for (_, reason) in DEVIATIONS {
        let words = reason.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            readme.contains(&words),
            "README lacks the deviation {words:?}"
        );
    }
}

fn strs(v: &Json) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn same<T: PartialEq + std::fmt::Debug>(bosun: T, atlantis: T) -> Result<(), String> {
    if bosun == atlantis {
        Ok(())
    } else {
        Err(format!("Atlantis: {atlantis:?}, bosun: {bosun:?}"))
    }
}

/// How bosun differs from Atlantis on one case; `Ok`: it does not.
fn run(case: &Json) -> Result<(), String> {
    let input = &case["input"];
    let expected = &case["expected"];
    let result = &expected["result"];
    let text = |key: &str| input[key].as_str().unwrap_or_default().to_owned();
    match case["function"].as_str().unwrap_or_default() {
        "HasRepoCfg" => {
            // A commit holding `atlantis.yml` is refused, whatever file bosun reads.
            let holds_yml = text("repo_dir").contains("atlantis.yml");
            let read = super::refuse_yml_twins(&FILE_NAMES, |f| holds_yml && f == "atlantis.yml");
            match (read, expected["error_contains"].as_str()) {
                (Ok(()), None) => same(false, expected["exists"].as_bool().unwrap_or(true)),
                // The same words; bosun does not quote the name.
                (Err(e), Some(want)) if e.message.contains(&want.replace('"', "")) => Ok(()),
                (got, want) => Err(format!("Atlantis: {want:?}, bosun: {got:?}")),
            }
        }
        "ParseRepoCfg" => Err("bosun never reads a repo config from a directory".into()),
        "raw.ContainsGlobPattern" | "valid.ContainsDirGlobPattern" => {
            let pattern = if input["pattern"].is_string() {
                text("pattern")
            } else {
                text("dir")
            };
            let want = result.as_bool().unwrap_or(false);
            same(dir_globs::is_glob(&pattern), want)?;
            same(crate::command::is_glob(&pattern), want)
        }
        "raw.ValidateGlobPattern" => same(
            dir_globs::pattern(&text("pattern")).is_err(),
            expected["error"].as_bool().unwrap_or(false),
        ),
        "raw.IsTerraformProjectDir" => {
            let files = input["files"].as_object().cloned().unwrap_or_default();
            let dirs = terraform_dirs(files.keys().map(String::as_str));
            same(
                dirs.iter().any(|d| d == "."),
                result.as_bool().unwrap_or(true),
            )
        }
        "raw.IsProjectIndicatorFile" => same(
            is_project_file(&text("name")),
            result.as_bool().unwrap_or(true),
        ),
        "raw.DefaultAutoPlanWhenModified" => same(
            DEFAULT_WHEN_MODIFIED.map(String::from).to_vec(),
            strs(result),
        ),
        "valid.ValidateWorkspaceName" => same(
            crate::names::workspace_name(&text("workspace")).is_ok(),
            expected["error"].is_null(),
        ),
        "valid.RepoCfg.FindProjectsByName (used for -p)" => {
            let matcher = NameMatcher::new(
                &text("name_regex"),
                &strs(&input["allowed_regexp_prefixes"]),
            )
            .map_err(|e| e.to_string())?;
            let names = strs(&input["project_names"]);
            let got: Vec<&String> = names.iter().filter(|n| matcher.matches(n)).collect();
            same(
                got.into_iter().cloned().collect(),
                strs(&expected["matched_project_names"]),
            )
        }
        "valid.RepoCfg.FindProjectsByDirPattern"
        | "valid.RepoCfg.FindProjectsByDirPatternWorkspace" => {
            let targets = |v: &Json| -> Vec<Target> {
                v.as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| Target {
                        dir: Dir::new(p["dir"].as_str().unwrap_or_default()),
                        workspace: Workspace::new(p["workspace"].as_str().unwrap_or_default()),
                        name: None,
                    })
                    .collect()
            };
            let cmd = Command {
                dirs: vec![text("pattern")],
                workspace: input["workspace"].as_str().map(Workspace::new),
                ..Command::new(CommandKind::Plan)
            };
            let got: Vec<Target> = targets(&input["projects"])
                .into_iter()
                .filter(|t| cmd.selects(t))
                .collect();
            same(got, targets(&expected["projects"]))
        }
        "valid.RepoCfg.AutoDiscoverEnabled" => {
            // The repo config sets no mode: bosun's default is Atlantis's `auto` (discover only
            // when the config lists no projects); the server's default mode is not a setting.
            let projects = if input["has_projects"].as_bool().unwrap_or(false) {
                "projects:\n- dir: .\n"
            } else {
                ""
            };
            let config = super::parse("atlantis.yaml", &format!("version: 3\n{projects}"))
                .map_err(|e| e.to_string())?;
            same(
                config.discovers(),
                expected["enabled"].as_bool().unwrap_or(true),
            )
        }
        "valid.AutoDiscover.IsPathIgnored" => {
            let ignore: Vec<String> = strs(&input["ignore_paths"])
                .iter()
                .map(|p| format!("\n  - {p:?}"))
                .collect();
            let yaml = format!(
                "version: 3\nautodiscover:\n  mode: enabled\n  ignore_paths:{}\n",
                if ignore.is_empty() {
                    " []".to_owned()
                } else {
                    ignore.concat()
                }
            );
            let config = super::parse("atlantis.yaml", &yaml)
                .map_err(|e| format!("bosun refuses it: {e}"))?;
            same(
                config.autodiscover.ignores(&text("path")),
                expected["ignored"].as_bool().unwrap_or(false),
            )
        }
        "utils.IsSimilarWord (did-you-mean for the executable name)" => same(
            crate::names::similar(&text("given"), &text("want")),
            expected["similar"].as_bool().unwrap_or(false),
        ),
        "valid.GlobalCfg.ValidateRepoCfg(rCfg, repoID)" => {
            let policy = server_policy(&input["server_global_cfg_go"])?;
            let rules = policy.for_repo("owner/repo", "main");
            let yaml = repo_config(&input["repo_cfg_go"]);
            let read = super::parse_with("atlantis.yaml", &yaml, &rules.server_workflow_names())
                .and_then(|c| powers::check(&c, &rules));
            match (read, expected["error"].as_str()) {
                (Ok(()), None) | (Err(_), Some(_)) => Ok(()),
                (Ok(()), Some(want)) => {
                    Err(format!("Atlantis refuses it ({want}); bosun accepts it"))
                }
                (Err(e), None) => Err(format!("Atlantis accepts it; bosun refuses it: {e}")),
            }
        }
        other => Err(format!("no bosun function runs `{other}`")),
    }
}

/// bosun's rules for Atlantis's server-side config of a case: `AllowAllRepoSettings` is every
/// power or none (the settings' first entry); a repo's own entry is a server config entry for
/// `owner/repo` (`allow_custom_workflows`, `allowed_overrides`, `allowed_workflows`), and the
/// config's `Workflows` are the server's.
fn server_policy(cfg: &Json) -> Result<ServerPolicy, String> {
    let repos = cfg["Repos"].as_array().cloned().unwrap_or_default();
    let args = match repos.first() {
        Some(first) => &first["<index>"]["of"]["args"][0],
        None => &cfg["args"][0],
    };
    let mut policy = if args["AllowAllRepoSettings"].as_bool().unwrap_or(false) {
        ServerPolicy::permissive()
    } else {
        ServerPolicy::strict()
    };
    let mut server = super::server::ServerConfig::default();
    for repo in repos.iter().skip(1) {
        let mut entry = super::server::RepoEntry {
            id: Some(super::server::RepoId::Exact("owner/repo".into())),
            allow_custom_workflows: repo["AllowCustomWorkflows"].as_bool(),
            ..Default::default()
        };
        if repo["AllowedOverrides"].is_array() {
            let parsed = AllowedOverrides::parse(&strs(&repo["AllowedOverrides"]).join(","))?;
            entry.allowed_overrides = Some(
                powers::Override::ALL
                    .into_iter()
                    .filter(|o| parsed.allows("owner/repo", *o))
                    .collect(),
            );
        }
        if repo["AllowedWorkflows"].is_array() {
            entry.allowed_workflows = Some(strs(&repo["AllowedWorkflows"]));
        }
        server.repos.push(entry);
    }
    for name in cfg["Workflows"]
        .as_object()
        .into_iter()
        .flat_map(|w| w.keys())
    {
        server.workflows.push(super::Workflow {
            name: name.clone(),
            plan: None,
            apply: None,
            network: true,
            other_stages: Vec::new(),
        });
    }
    policy.server = Some(std::sync::Arc::new(server));
    Ok(policy)
}

/// The repo config file a case's Go value stands for.
fn repo_config(cfg: &Json) -> String {
    let mut yaml = "version: 3\n".to_owned();
    let projects = cfg["Projects"].as_array().cloned().unwrap_or_default();
    if !projects.is_empty() {
        yaml.push_str("projects:\n");
    }
    for p in &projects {
        yaml.push_str(&format!("- dir: {:?}\n", p["Dir"].as_str().unwrap_or(".")));
        for (go, key) in [("Workspace", "workspace"), ("WorkflowName", "workflow")] {
            if let Some(v) = p[go].as_str() {
                yaml.push_str(&format!("  {key}: {v:?}\n"));
            }
        }
        for (go, key) in [
            ("PlanRequirements", "plan_requirements"),
            ("ApplyRequirements", "apply_requirements"),
            ("ImportRequirements", "import_requirements"),
        ] {
            if p[go].is_array() {
                yaml.push_str(&format!("  {key}: {}\n", p[go]));
            }
        }
    }
    if let Some(workflows) = cfg["Workflows"].as_object()
        && !workflows.is_empty()
    {
        yaml.push_str("workflows:\n");
        for name in workflows.keys() {
            yaml.push_str(&format!("  {name}: {{}}\n"));
        }
    }
    yaml
}
