//! Which projects a change touches: from the repo config's `when_modified` globs and `branch`
//! regexes, or, without a config, every directory holding a changed `*.tf`, `*.tf.json` or
//! `*.tfvars` file, with a change inside a local module planning the projects that use it.

use std::collections::{BTreeMap, BTreeSet};

use globset::{GlobBuilder, GlobSetBuilder};

use crate::config::repo::{Project, RepoConfig};

/// A project to plan: where, in which workspace, and its name if the config gives one.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Target {
    pub dir: String,
    pub workspace: String,
    pub name: Option<String>,
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

fn is_terraform_file(path: &str) -> bool {
    path.ends_with(".tf") || path.ends_with(".tf.json") || path.ends_with(".tfvars")
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
                let Some(glob) = join(&p.dir, pattern) else {
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
        .filter(|t| !config.autodiscover.ignores(&t.dir))
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
/// `tf_files` are the repository's `.tf` files with their text, for module references.
pub fn without_config(changed: &[String], tf_files: &[(String, String)]) -> Vec<Target> {
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
    for file in changed.iter().filter(|f| is_terraform_file(f)) {
        // Walk up from the changed dir through the modules that use it, to the roots.
        let mut queue = vec![parent(file)];
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
            dir,
            workspace: "default".into(),
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
        targets.into_iter().map(|t| t.dir).collect()
    }

    #[test]
    fn every_dir_with_a_changed_terraform_file_is_a_project() {
        let got = without_config(
            &changed(&[
                "envs/prod/main.tf",
                "envs/dev/x.tf.json",
                "envs/qa/qa.tfvars",
                "README.md",
                "main.tf",
            ]),
            &[],
        );
        assert_eq!(dirs(got), vec![".", "envs/dev", "envs/prod", "envs/qa"]);
    }

    #[test]
    fn a_changed_local_module_plans_its_users() {
        let tf = vec![
            (
                "envs/prod/main.tf".to_string(),
                "module \"net\" {\n  source = \"../../modules/net\"\n}\n".to_string(),
            ),
            (
                "envs/dev/main.tf".to_string(),
                "module \"app\" {\n  source = \"../../modules/app\"\n}\n".to_string(),
            ),
            (
                "modules/app/main.tf".to_string(),
                "module \"net\" {\n  source = \"../net\"\n}\n".to_string(),
            ),
            (
                "envs/qa/main.tf".to_string(),
                "module \"x\" {\n  source = \"hashicorp/consul/aws\"\n}\n".to_string(),
            ),
        ];
        assert_eq!(
            dirs(without_config(&changed(&["modules/net/vpc.tf"]), &tf)),
            vec!["envs/dev", "envs/prod"]
        );
        assert_eq!(
            dirs(without_config(&changed(&["modules/app/main.tf"]), &tf)),
            vec!["envs/dev"]
        );
        assert_eq!(
            dirs(without_config(&changed(&["envs/qa/main.tf"]), &tf)),
            vec!["envs/qa"]
        );
    }

    #[test]
    fn module_cycles_end() {
        let tf = vec![
            ("a/main.tf".to_string(), "source = \"../b\"\n".to_string()),
            ("b/main.tf".to_string(), "source = \"../a\"\n".to_string()),
        ];
        assert!(without_config(&changed(&["a/main.tf"]), &tf).is_empty());
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
        let found = || without_config(&changed(&["a/main.tf", "b/main.tf", "old/x/main.tf"]), &[]);
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
