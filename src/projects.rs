//! Which projects a change touches: from the repo config's `when_modified` globs and `branch`
//! regexes, or, without a config, by Atlantis's rules: the directory of each changed file of
//! Atlantis's autoplan list (`*.tf`, `*.tf.json`, `*.tfvars`, `*.tfvars.json`, `*.tofu`,
//! `*.tofu.json`, `terragrunt.hcl`, `.terraform.lock.hcl`), the one above for a file in an
//! `env/` directory, and for a file under a `modules/` directory the directory holding that
//! `modules/` if it is a project itself (else none). With `modules` (BOSUN_AUTOPLAN_MODULES,
//! Atlantis's `--autoplan-modules`), a change inside a local module used by other directories
//! plans the projects that use it instead.

use std::collections::{BTreeMap, BTreeSet};

use globset::{GlobBuilder, GlobSetBuilder};

use crate::config::repo::{Project, RepoConfig};
use crate::ids::{Dir, Workspace};

/// A project to plan: where, in which workspace, and its name if the config gives one.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Target {
    pub dir: Dir,
    pub workspace: Workspace,
    pub name: Option<String>,
}

impl Target {
    /// Dir, workspace and name, as [`crate::config::repo::RepoConfig::project`] takes them.
    pub fn parts(&self) -> (&Dir, &Workspace, Option<&str>) {
        (&self.dir, &self.workspace, self.name.as_deref())
    }
}

impl From<&Project> for Target {
    fn from(p: &Project) -> Self {
        Self {
            dir: p.dir.clone(),
            workspace: p.workspace.clone(),
            name: p.name.clone(),
        }
    }
}

/// Whether a changed file can make its project plan without a repo config: Atlantis's default
/// `--autoplan-file-list`, less the state and tflint files Atlantis always ignores.
fn triggers_autoplan(path: &str) -> bool {
    if ["terraform.tfstate", "tflint.hcl"]
        .iter()
        .any(|s| path.contains(s))
    {
        return false;
    }
    let name = path.rsplit('/').next().unwrap_or(path);
    [
        ".tf",
        ".tf.json",
        ".tfvars",
        ".tfvars.json",
        ".tofu",
        ".tofu.json",
    ]
    .iter()
    .any(|ext| name.ends_with(ext))
        || name == "terragrunt.hcl"
        || name == ".terraform.lock.hcl"
}

/// The project a changed file belongs to without a repo config (Atlantis's `getProjectDir`):
/// its directory; the one above an `env/` directory; for a directory under `modules/`, the
/// directory holding `modules/` when `is_project` says it is one, else none.
fn project_dir(file: &str, is_project: impl Fn(&str) -> bool) -> Option<String> {
    let dir = parent(file);
    if dir == "env" || dir.ends_with("/env") {
        return Some(parent(&dir));
    }
    let parts: Vec<&str> = dir.split('/').collect();
    match parts.iter().position(|p| *p == "modules") {
        None => Some(dir),
        Some(0) => is_project(".").then(|| ".".to_owned()),
        Some(i) => {
            let above = parts[..i].join("/");
            is_project(&above).then_some(above)
        }
    }
}

fn parent(path: &str) -> String {
    match path.rsplit_once('/') {
        Some((dir, _)) if !dir.is_empty() => dir.to_owned(),
        _ => ".".into(),
    }
}

/// `dir` joined with a relative path, `..` resolved; `None` if it leaves the repository.
fn join(dir: &str, rel: &str) -> Option<String> {
    let base = if dir == "." {
        String::new()
    } else {
        format!("{dir}/")
    };
    crate::names::repo_dir(&format!("{base}{rel}")).ok()
}

/// Several named projects on one dir and workspace that a `-d` selection reached: `-d` cannot
/// tell them apart, only `-p` can (Atlantis refuses such a command as ambiguous too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ambiguous {
    pub dir: Dir,
    pub workspace: Workspace,
    /// Their names, sorted.
    pub names: Vec<String>,
}

/// The first dir and workspace (by dir, then workspace) where `targets` holds more than one
/// project, if any.
pub fn ambiguous(targets: &[Target]) -> Option<Ambiguous> {
    let mut by_place: BTreeMap<(&Dir, &Workspace), BTreeSet<&str>> = BTreeMap::new();
    for t in targets {
        by_place
            .entry((&t.dir, &t.workspace))
            .or_default()
            .insert(t.name.as_deref().unwrap_or(""));
    }
    by_place
        .into_iter()
        .find(|(_, names)| names.len() > 1)
        .map(|((dir, workspace), names)| Ambiguous {
            dir: dir.clone(),
            workspace: workspace.clone(),
            names: names.into_iter().map(str::to_owned).collect(),
        })
}

/// The projects of `config` that the change touches, for a pull request into `base_branch`.
pub fn from_config(config: &RepoConfig, base_branch: &str, changed: &[String]) -> Vec<Target> {
    config
        .projects
        .iter()
        .filter(|p| p.autoplan_enabled)
        .filter(|p| match &p.branch {
            None => true,
            Some(re) => regex::Regex::new(re).is_ok_and(|re| re.is_match(base_branch)),
        })
        .filter(|p| {
            // `!pattern` excludes what it matches, as in Atlantis.
            let (mut include, mut exclude) = (GlobSetBuilder::new(), GlobSetBuilder::new());
            for pattern in &p.when_modified {
                let (set, pattern) = match pattern.strip_prefix('!') {
                    Some(rest) => (&mut exclude, rest),
                    None => (&mut include, pattern.as_str()),
                };
                // A pattern that leaves the repository matches nothing.
                let Some(glob) = join(p.dir.as_str(), pattern) else {
                    continue;
                };
                if let Ok(g) = GlobBuilder::new(&glob).literal_separator(true).build() {
                    set.add(g);
                }
            }
            let (Ok(include), Ok(exclude)) = (include.build(), exclude.build()) else {
                return false;
            };
            changed
                .iter()
                .any(|f| include.is_match(f) && !exclude.is_match(f))
        })
        .map(Target::from)
        .collect()
}

/// The projects `found` as without a repo config that `config` adds to its own (see
/// [`RepoConfig::discovers`], Atlantis's `autodiscover`): none when it does not discover, and
/// never one on a listed project's dir (listed or not planned by its `when_modified`, the
/// listed project wins) nor on a dir its `ignore_paths` match.
pub fn discovered(config: &RepoConfig, found: Vec<Target>) -> Vec<Target> {
    if !config.discovers() {
        return Vec::new();
    }
    found
        .into_iter()
        .filter(|t| !config.projects.iter().any(|p| p.dir == t.dir))
        .filter(|t| !config.autodiscover.ignores(t.dir.as_str()))
        .collect()
}

/// The projects found in a repository without a repo config, as the server config's
/// `autodiscover` for it allows (`None`: Atlantis's default, `auto`, which discovers when no
/// project is listed): none under `disabled`, and none whose dir an `ignore_paths` glob
/// matches.
pub fn discovered_without_config(
    server: Option<&crate::config::repo::AutoDiscover>,
    found: Vec<Target>,
) -> Vec<Target> {
    let Some(server) = server else {
        return found;
    };
    if server.mode == crate::config::repo::DiscoverMode::Disabled {
        return Vec::new();
    }
    found
        .into_iter()
        .filter(|t| !server.ignores(t.dir.as_str()))
        .collect()
}

/// The local module directories each `.tf` file's `module` blocks use: `(dir of the file,
/// module dir)` pairs from `source = "./…"` or `"../…"`.
fn module_uses(tf_files: &[(String, String)]) -> Vec<(String, String)> {
    let source =
        regex::Regex::new(r#"(?m)^\s*source\s*=\s*"(\.\.?/[^"]*)""#).expect("a valid regex");
    let mut uses = Vec::new();
    for (path, text) in tf_files {
        if !path.ends_with(".tf") {
            continue;
        }
        let dir = parent(path);
        for cap in source.captures_iter(text) {
            if let Some(module) = join(&dir, &cap[1]) {
                uses.push((dir.clone(), module));
            }
        }
    }
    uses
}

/// Without a repo config: project directories (workspace `default`) a change touches.
/// `tf_files` are the repository's `.tf` files with their text, for module references; a
/// directory directly holding one is a project (for the `modules/` rule). With `modules`, a
/// changed local module plans the projects whose `module` blocks use it, not itself.
pub fn without_config(
    changed: &[String],
    tf_files: &[(String, String)],
    modules: bool,
) -> Vec<Target> {
    let projects: BTreeSet<String> = tf_files.iter().map(|(path, _)| parent(path)).collect();
    let uses = module_uses(tf_files);
    let mut users: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (user, module) in &uses {
        if user != module {
            users
                .entry(module.as_str())
                .or_default()
                .insert(user.as_str());
        }
    }
    let mut dirs = BTreeSet::new();
    for file in changed.iter().filter(|f| triggers_autoplan(f)) {
        let mut queue: Vec<String> = match project_dir(file, |d| projects.contains(d)) {
            Some(dir) if !modules => {
                dirs.insert(dir);
                continue;
            }
            Some(dir) => vec![dir],
            // Under a `modules/` that is no project's: only the projects using the module.
            None if modules => users
                .get(parent(file).as_str())
                .map(|us| us.iter().map(|u| u.to_string()).collect())
                .unwrap_or_default(),
            None => continue,
        };
        // Walk up from the changed dir through the modules that use it, to the roots.
        let mut seen = BTreeSet::new();
        while let Some(dir) = queue.pop() {
            if !seen.insert(dir.clone()) || seen.len() > 10_000 {
                continue;
            }
            match users.get(dir.as_str()) {
                Some(us) => queue.extend(us.iter().map(|u| u.to_string())),
                None => {
                    dirs.insert(dir);
                }
            }
        }
    }
    dirs.into_iter()
        .map(|dir| Target {
            // A file's parent in the tree: normalised already.
            dir: Dir::new(dir),
            workspace: Workspace::default(),
            name: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changed(files: &[&str]) -> Vec<String> {
        files.iter().map(|s| s.to_string()).collect()
    }

    fn dirs(targets: Vec<Target>) -> Vec<String> {
        targets.into_iter().map(|t| t.dir.into_string()).collect()
    }

    fn target(dir: &str, workspace: &str, name: Option<&str>) -> Target {
        Target {
            dir: dir.into(),
            workspace: workspace.into(),
            name: name.map(Into::into),
        }
    }

    #[test]
    fn two_projects_on_one_dir_and_workspace_are_ambiguous() {
        let targets = [
            target("a", "default", None),
            target(".", "default", Some("staging")),
            target(".", "other", Some("x")),
            target(".", "default", Some("default")),
            target(".", "default", Some("staging")),
        ];
        assert_eq!(
            ambiguous(&targets),
            Some(Ambiguous {
                dir: ".".into(),
                workspace: "default".into(),
                names: vec!["default".into(), "staging".into()],
            })
        );
        assert_eq!(ambiguous(&targets[..3]), None, "one project per place");
        assert_eq!(ambiguous(&[]), None);
    }

    #[test]
    fn every_dir_with_a_changed_terraform_file_is_a_project() {
        let got = without_config(
            &changed(&[
                "envs/prod/main.tf",
                "envs/dev/x.tf.json",
                "envs/qa/qa.tfvars",
                "envs/uat/uat.tfvars.json",
                "envs/tofu/main.tofu",
                "envs/tofu-json/main.tofu.json",
                "envs/tg/terragrunt.hcl",
                "envs/state/terraform.tfstate",
                "envs/state/terraform.tfstate.backup",
                "envs/lint/.tflint.hcl",
                "README.md",
                "main.tf",
            ]),
            &[],
            false,
        );
        assert_eq!(
            dirs(got),
            vec![
                ".",
                "envs/dev",
                "envs/prod",
                "envs/qa",
                "envs/tg",
                "envs/tofu",
                "envs/tofu-json",
                "envs/uat"
            ]
        );
    }

    #[test]
    fn a_lock_file_at_the_root_plans_the_root() {
        assert_eq!(
            dirs(without_config(
                &changed(&[".terraform.lock.hcl"]),
                &[],
                false
            )),
            vec!["."]
        );
    }

    #[test]
    fn a_file_in_an_env_dir_plans_the_dir_above() {
        assert_eq!(
            dirs(without_config(
                &changed(&["env/dev.tfvars", "app/env/staging.tfvars"]),
                &[],
                false
            )),
            vec![".", "app"]
        );
    }

    #[test]
    fn a_file_under_modules_plans_the_dir_above_modules_only_if_it_is_a_project() {
        let tf = |paths: &[&str]| -> Vec<(String, String)> {
            paths
                .iter()
                .map(|p| (p.to_string(), String::new()))
                .collect()
        };
        // A project with its own modules/ folder: the project.
        let inside = tf(&["app/main.tf", "app/modules/net/main.tf"]);
        assert_eq!(
            dirs(without_config(
                &changed(&["app/modules/net/main.tf"]),
                &inside,
                false
            )),
            vec!["app"]
        );
        // A shared top-level modules/ folder: no project (the root holds no .tf file), even
        // when projects use it, as in Atlantis.
        let shared = vec![
            (
                "staging/main.tf".to_string(),
                "module \"m\" {\n  source = \"../modules/null\"\n}\n".to_string(),
            ),
            ("modules/null/main.tf".to_string(), String::new()),
        ];
        assert!(without_config(&changed(&["modules/null/main.tf"]), &shared, false).is_empty());
        // With BOSUN_AUTOPLAN_MODULES, the projects using it.
        assert_eq!(
            dirs(without_config(
                &changed(&["modules/null/main.tf"]),
                &shared,
                true
            )),
            vec!["staging"]
        );
        // And an unused module there is no project either.
        let unused = tf(&["modules/unused/main.tf"]);
        assert!(without_config(&changed(&["modules/unused/main.tf"]), &unused, true).is_empty());
        // The root a project: a change in its modules/ plans it.
        let rooted = tf(&["main.tf", "modules/null/main.tf"]);
        assert_eq!(
            dirs(without_config(
                &changed(&["modules/null/main.tf"]),
                &rooted,
                false
            )),
            vec!["."]
        );
    }

    #[test]
    fn a_changed_local_module_plans_its_users() {
        let tf = vec![
            (
                "envs/prod/main.tf".to_string(),
                "module \"net\" {\n  source = \"../../lib/net\"\n}\n".to_string(),
            ),
            (
                "envs/dev/main.tf".to_string(),
                "module \"app\" {\n  source = \"../../lib/app\"\n}\n".to_string(),
            ),
            (
                "lib/app/main.tf".to_string(),
                "module \"net\" {\n  source = \"../net\"\n}\n".to_string(),
            ),
            (
                "envs/qa/main.tf".to_string(),
                "module \"x\" {\n  source = \"hashicorp/consul/aws\"\n}\n".to_string(),
            ),
        ];
        assert_eq!(
            dirs(without_config(&changed(&["lib/net/vpc.tf"]), &tf, true)),
            vec!["envs/dev", "envs/prod"]
        );
        assert_eq!(
            dirs(without_config(&changed(&["lib/app/main.tf"]), &tf, true)),
            vec!["envs/dev"]
        );
        assert_eq!(
            dirs(without_config(&changed(&["envs/qa/main.tf"]), &tf, true)),
            vec!["envs/qa"]
        );
        // Without BOSUN_AUTOPLAN_MODULES, a changed module is a project like any directory.
        assert_eq!(
            dirs(without_config(&changed(&["lib/net/vpc.tf"]), &tf, false)),
            vec!["lib/net"]
        );
    }

    #[test]
    fn module_cycles_end() {
        let tf = vec![
            ("a/main.tf".to_string(), "source = \"../b\"\n".to_string()),
            ("b/main.tf".to_string(), "source = \"../a\"\n".to_string()),
        ];
        assert!(without_config(&changed(&["a/main.tf"]), &tf, true).is_empty());
    }

    #[test]
    fn config_globs_are_relative_to_the_project_dir() {
        let config = crate::config::repo::parse(
            "bosun.yaml",
            r#"
version: 3
projects:
- name: prod
  dir: envs/prod
  autoplan:
    when_modified: ["*.tf", "../../modules/**/*.tf"]
- name: dev
  dir: envs/dev
  branch: /^develop$/
- name: off
  dir: envs/off
  autoplan: {enabled: false}
- name: root
  dir: .
"#,
        )
        .unwrap();
        let names = |t: Vec<Target>| t.into_iter().map(|t| t.name.unwrap()).collect::<Vec<_>>();
        assert_eq!(
            names(from_config(
                &config,
                "main",
                &changed(&["envs/prod/main.tf"])
            )),
            vec!["prod", "root"]
        );
        assert_eq!(
            names(from_config(
                &config,
                "main",
                &changed(&["modules/net/vpc.tf"])
            )),
            vec!["prod", "root"]
        );
        assert_eq!(
            names(from_config(
                &config,
                "main",
                &changed(&["envs/prod/sub/x.tf"])
            )),
            vec!["root"],
            "*.tf does not cross /"
        );
        assert_eq!(
            names(from_config(
                &config,
                "main",
                &changed(&["envs/dev/main.tf"])
            )),
            vec!["root"],
            "dev only for develop"
        );
        assert_eq!(
            names(from_config(
                &config,
                "develop",
                &changed(&["envs/dev/main.tf"])
            )),
            vec!["dev", "root"]
        );
        assert_eq!(
            names(from_config(
                &config,
                "main",
                &changed(&["envs/off/main.tf"])
            )),
            vec!["root"],
            "autoplan off"
        );
        assert!(from_config(&config, "main", &changed(&["README.md"])).is_empty());

        let config = crate::config::repo::parse(
            "bosun.yaml",
            "version: 3\nprojects:\n- dir: a\n  autoplan:\n    when_modified: [\"**/*.tf\", \"!test/**\"]\n",
        )
        .unwrap();
        assert_eq!(from_config(&config, "main", &changed(&["a/x.tf"])).len(), 1);
        assert!(
            from_config(&config, "main", &changed(&["a/test/x.tf"])).is_empty(),
            "excluded"
        );
    }

    #[test]
    fn discovered_projects_skip_listed_and_ignored_dirs_and_follow_the_mode() {
        let found = || {
            without_config(
                &changed(&["a/main.tf", "b/main.tf", "old/x/main.tf"]),
                &[],
                false,
            )
        };
        let parse = |text: &str| crate::config::repo::parse("bosun.yaml", text).unwrap();
        let enabled = parse(
            "version: 3\nautodiscover: {mode: enabled, ignore_paths: [\"old/*\"]}\n\
             projects:\n- dir: a\n  autoplan: {enabled: false}\n",
        );
        assert_eq!(dirs(discovered(&enabled, found())), ["b"]);
        let auto = parse("version: 3\n");
        assert_eq!(dirs(discovered(&auto, found())), ["a", "b", "old/x"]);
        let listed = parse("version: 3\nprojects:\n- dir: a\n");
        assert!(
            discovered(&listed, found()).is_empty(),
            "auto with projects"
        );
        let disabled = parse("version: 3\nautodiscover: {mode: disabled}\n");
        assert!(discovered(&disabled, found()).is_empty());
    }
}
