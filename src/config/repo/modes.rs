//! Atlantis's mode keys: `autodiscover` (which projects bosun finds beyond the listed ones) and
//! `repo_locks` (when a project's lock is taken).

use super::yaml::Node;
use super::{ConfigError, Ctx, is_null};

/// When a project's lock (one per repo, dir and workspace) is taken (Atlantis's
/// `repo_locks.mode`), from the strictest to none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum LockMode {
    /// When the project is planned, held until the pull request closes (the default): another
    /// pull request's plan of it waits.
    #[default]
    OnPlan,
    /// When the project is applied: plans of other pull requests go ahead, and an apply is
    /// refused while another pull request holds the lock.
    OnApply,
    /// Never: neither plans nor applies take or check it.
    Disabled,
}

impl LockMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OnPlan => "on_plan",
            Self::OnApply => "on_apply",
            Self::Disabled => "disabled",
        }
    }
}

/// Reads `repo_locks` (`~`, `{}` or no `mode`: `None`, the default).
pub(super) fn repo_locks(
    ctx: &Ctx,
    node: &Node,
    key: &str,
) -> Result<Option<LockMode>, ConfigError> {
    if is_null(node) {
        return Ok(None);
    }
    let mut mode = None;
    for (_, _, v) in ctx.entries(node, key, &["mode"])? {
        let path = format!("{key}.mode");
        if is_null(v) {
            continue;
        }
        mode = Some(match ctx.string(v, &path)?.as_str() {
            "on_plan" => LockMode::OnPlan,
            "on_apply" => LockMode::OnApply,
            "disabled" => LockMode::Disabled,
            other => {
                return Err(ctx.err(
                    v,
                    &path,
                    format!("`{other}` is not one of on_plan, on_apply, disabled"),
                ));
            }
        });
    }
    Ok(mode)
}

/// When bosun discovers projects the config does not list (Atlantis's `autodiscover.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DiscoverMode {
    /// Only when the config lists no project (Atlantis's default).
    #[default]
    Auto,
    /// Always, beside the listed projects (a listed project's dir is never discovered).
    Enabled,
    /// Never: only the listed projects.
    Disabled,
}

/// Atlantis's `autodiscover`: when projects are discovered as without a repo config, and
/// which dirs never are.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AutoDiscover {
    pub mode: DiscoverMode,
    /// Globs on a discovered project's dir (`*` stays within one path segment, `**` crosses
    /// them): a dir one matches is not discovered.
    pub ignore_paths: Vec<String>,
}

impl AutoDiscover {
    /// Whether discovered `dir` (relative to the repository's root) is left out.
    pub fn ignores(&self, dir: &str) -> bool {
        self.ignore_paths
            .iter()
            .any(|p| glob(p).is_ok_and(|g| g.compile_matcher().is_match(dir)))
    }
}

fn glob(pattern: &str) -> Result<globset::Glob, globset::Error> {
    globset::GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
}

/// Reads `autodiscover` (`~` or `{}`: the defaults).
pub(super) fn autodiscover(ctx: &Ctx, node: &Node, key: &str) -> Result<AutoDiscover, ConfigError> {
    let mut out = AutoDiscover::default();
    if is_null(node) {
        return Ok(out);
    }
    for (name, _, v) in ctx.entries(node, key, &["mode", "ignore_paths"])? {
        let path = format!("{key}.{name}");
        if is_null(v) {
            continue;
        }
        if name == "ignore_paths" {
            let paths = ctx.strings(v, &path)?;
            for (i, p) in paths.iter().enumerate() {
                let at = format!("{path}[{i}]");
                if p.starts_with('/') {
                    return Err(ctx.err(v, &at, "pattern must not begin with a slash '/'"));
                }
                glob(p).map_err(|e| ctx.err(v, &at, format!("invalid pattern: {e}")))?;
            }
            out.ignore_paths = paths;
            continue;
        }
        out.mode = match ctx.string(v, &path)?.as_str() {
            "auto" => DiscoverMode::Auto,
            "enabled" => DiscoverMode::Enabled,
            "disabled" => DiscoverMode::Disabled,
            other => {
                return Err(ctx.err(
                    v,
                    &path,
                    format!("`{other}` is not one of auto, enabled, disabled"),
                ));
            }
        };
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignore_paths_match_whole_dirs_with_star_within_a_segment() {
        let a = AutoDiscover {
            mode: DiscoverMode::Enabled,
            ignore_paths: vec!["modules/*".into(), "legacy/**".into()],
        };
        assert!(a.ignores("modules/net"));
        assert!(!a.ignores("modules/net/inner"));
        assert!(a.ignores("legacy/a/b"));
        assert!(!a.ignores("envs/prod"));
        assert!(!AutoDiscover::default().ignores("modules/net"));
    }
}
