//! Atlantis's mode keys: `autodiscover` (which projects bosun finds beyond the listed ones) and
//! `repo_locks`, accepted only where the mode is what bosun does (`on_plan`; the other modes
//! are refused with a clear error rather than ignored).

use super::yaml::Node;
use super::{ConfigError, Ctx, is_null};

/// Atlantis's `repo_locks`: bosun always locks a project when it plans it, which is
/// Atlantis's `on_plan` (its default); the other modes are refused, not ignored.
pub(super) fn repo_locks(ctx: &Ctx, node: &Node, key: &str) -> Result<(), ConfigError> {
    if is_null(node) {
        return Ok(());
    }
    for (_, _, v) in ctx.entries(node, key, &["mode"])? {
        let path = format!("{key}.mode");
        if is_null(v) {
            continue;
        }
        match ctx.string(v, &path)?.as_str() {
            "on_plan" => {}
            mode @ ("on_apply" | "disabled") => {
                return Err(ctx.err(
                    v,
                    &path,
                    format!(
                        "bosun always locks a project's dir and workspace when it plans it \
                         (`on_plan`); `{mode}` is not supported yet"
                    ),
                ));
            }
            other => {
                return Err(ctx.err(
                    v,
                    &path,
                    format!("`{other}` is not one of on_plan, on_apply, disabled"),
                ));
            }
        }
    }
    Ok(())
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
