//! Glob project dirs (`dir: modules/*`), as Atlantis has them: one project per directory the
//! pattern matches that directly holds a Terraform file, with the glob project's settings
//! but not its name. Pure: the caller lists the commit's files.

use globset::{Glob, GlobBuilder, GlobMatcher};

use super::{ConfigError, RepoConfig};

/// Whether a project's `dir` is a pattern rather than a directory.
pub(super) fn is_glob(dir: &str) -> bool {
    dir.contains(['*', '?', '['])
}

/// The pattern a glob `dir` means, or why it is not one bosun takes.
pub(super) fn pattern(dir: &str) -> Result<String, String> {
    let cleaned = dir.trim_start_matches("./");
    if cleaned.starts_with('/') || cleaned.split('/').any(|part| part == "..") {
        return Err("a glob dir must stay inside the repository".into());
    }
    if cleaned.chars().any(char::is_control) || cleaned.contains('\\') {
        return Err("not a usable glob dir".into());
    }
    Glob::new(cleaned).map_err(|e| format!("not a valid glob pattern: {}", e.kind()))?;
    Ok(cleaned.to_owned())
}

fn matcher(pattern: &str) -> Option<GlobMatcher> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .ok()
        .map(|g| g.compile_matcher())
}

/// Whether a file makes its directory a Terraform project (Atlantis's list).
pub fn is_project_file(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    [".tf", ".tf.json", ".tofu", ".tofu.json"]
        .iter()
        .any(|ext| name.ends_with(ext))
        || name == "terragrunt.hcl"
}

/// The directories (repository-relative, `.` for the root) that directly hold a file that
/// makes a project, from a commit's file paths; sorted, each once.
pub fn terraform_dirs<'a>(paths: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut dirs: Vec<String> = paths
        .into_iter()
        .filter(|p| is_project_file(p))
        .map(|p| p.rsplit_once('/').map_or(".", |(dir, _)| dir).to_owned())
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

impl RepoConfig {
    /// Whether a project's dir is a glob still to expand with [`RepoConfig::expand_dir_globs`].
    pub fn has_dir_globs(&self) -> bool {
        self.projects.iter().any(|p| p.dir_glob)
    }

    /// Replaces each glob project by one project per directory of `terraform_dirs` (see
    /// [`terraform_dirs`]) its pattern matches, in order, unnamed, with its other settings.
    /// A directory that then has two projects on one workspace is an error, as in [`super::parse`].
    pub fn expand_dir_globs(&mut self, terraform_dirs: &[String]) -> Result<(), ConfigError> {
        let mut expanded = Vec::with_capacity(self.projects.len());
        let mut origin = Vec::with_capacity(self.projects.len());
        for (i, p) in self.projects.iter().enumerate() {
            if !p.dir_glob {
                expanded.push(p.clone());
                origin.push(i);
                continue;
            }
            let Some(m) = matcher(p.dir.as_str()) else {
                return Err(self.error_at(&format!("projects[{i}].dir"), "not a valid glob"));
            };
            for dir in terraform_dirs.iter().filter(|d| *d != "." && m.is_match(d)) {
                let mut one = p.clone();
                // A tree's dir: normalised already.
                one.dir = crate::ids::Dir::new(dir.clone());
                one.name = None;
                one.dir_glob = false;
                expanded.push(one);
                origin.push(i);
            }
        }
        for (a, p) in expanded.iter().enumerate() {
            if let Some(b) = (a + 1..expanded.len())
                .find(|&b| expanded[b].dir == p.dir && expanded[b].workspace == p.workspace)
            {
                let at = origin.get(b).copied().unwrap_or_default();
                return Err(self.error_at(
                    &format!("projects[{at}].dir"),
                    format!(
                        "two projects are on dir `{}` and workspace `{}` once the glob is \
                         expanded: projects sharing a dir and workspace must each have a \
                         name, and one expanded from a glob has none",
                        p.dir, p.workspace
                    ),
                ));
            }
        }
        self.projects = expanded;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILES: [&str; 6] = [
        "main.tf",
        "modules/a/main.tf",
        "modules/b/x.tofu.json",
        "modules/c/readme.md",
        "envs/dev/terragrunt.hcl",
        "envs/dev/deep/prod/main.tf",
    ];

    fn expanded(text: &str) -> Result<Vec<(String, Option<String>)>, String> {
        let mut c = super::super::parse("bosun.yaml", text).map_err(|e| e.to_string())?;
        c.expand_dir_globs(&terraform_dirs(FILES))
            .map_err(|e| e.to_string())?;
        Ok(c.projects
            .into_iter()
            .map(|p| (p.dir.into_string(), p.name))
            .collect())
    }

    #[test]
    fn a_glob_dir_is_one_project_per_terraform_dir_it_matches() {
        let dirs = |text| {
            expanded(text)
                .unwrap()
                .into_iter()
                .map(|(d, _)| d)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            dirs("version: 3\nprojects:\n- dir: x\n- dir: ./modules/*\n  name: m\n"),
            ["x", "modules/a", "modules/b"]
        );
        assert_eq!(
            dirs("version: 3\nprojects:\n- dir: envs/**\n"),
            ["envs/dev", "envs/dev/deep/prod"]
        );
        assert_eq!(
            dirs("version: 3\nprojects:\n- dir: none/*\n"),
            [] as [&str; 0]
        );
        assert!(
            expanded("version: 3\nprojects:\n- dir: modules/*\n  name: m\n")
                .unwrap()
                .iter()
                .all(|(_, name)| name.is_none())
        );
    }

    #[test]
    fn a_glob_that_lands_on_another_projects_dir_is_an_error() {
        assert_eq!(
            expanded("version: 3\nprojects:\n- dir: modules/a\n- dir: modules/*\n").unwrap_err(),
            "bosun.yaml:4:3: projects[1].dir: two projects are on dir `modules/a` and \
             workspace `default` once the glob is expanded: projects sharing a dir and \
             workspace must each have a name, and one expanded from a glob has none"
        );
    }

    #[test]
    fn a_glob_must_be_valid_and_stay_inside() {
        for (dir, message) in [
            ("\"[invalid\"", "not a valid glob pattern"),
            ("../*", "must stay inside the repository"),
            ("/etc/*", "must stay inside the repository"),
        ] {
            let e = expanded(&format!("version: 3\nprojects:\n- dir: {dir}\n")).unwrap_err();
            assert!(e.contains(message), "{e}");
        }
    }
}
