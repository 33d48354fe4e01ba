//! Which Terraform or OpenTofu binary a project runs (see [`crate::versions`]): its repo
//! config's `terraform_version` and `terraform_distribution` at the commit the run checks out,
//! else the `required_version` of its code in the checkout; the server's binary when nothing
//! is asked or it meets what is; else the version asked, downloaded and checked. A version that
//! cannot be had fails the run naming it and why.

use crate::ids::Sha;
use std::path::{Path, PathBuf};

use super::Context;
use crate::config::repo::Distribution;
use crate::plan::Target;
use crate::versions::cache::Lease;
use crate::versions::{
    Chosen, Constraint, Pinned, ServerBinary, Version, Versions, Wanted, required,
};

/// The binary a run uses.
#[derive(Debug, Default)]
pub(super) struct Binary {
    /// `None`: the server's.
    pub path: Option<PathBuf>,
    /// For the run's log: which version runs, when it is a downloaded one.
    pub note: Option<String>,
    /// What runs, when the project asked for a version or a distribution (a plan records it,
    /// and its apply runs the same).
    pub pinned: Option<Pinned>,
    /// Keeps a downloaded version cached while the run uses it.
    pub lease: Option<Lease>,
}

/// The binary for the project `target` of `repo`, whose checkout at `sha` is `dir` of `root`;
/// `pinned`: the one its plan ran, for an apply (exactly that one, asked for nothing else).
/// `Err`: why the project cannot run (for users).
pub(super) async fn binary(
    ctx: &Context,
    (repo, branch, sha): (&str, &str, &Sha),
    target: &Target,
    (root, dir): (&Path, &Path),
    pinned: Option<&Pinned>,
) -> Result<Binary, String> {
    let (chosen, asked) = match pinned {
        Some(p) => {
            let server = server_binary(ctx).await;
            let chosen = ctx
                .versions
                .choose_pinned(p, server.as_ref())
                .await
                .map_err(|e| {
                    format!(
                        "The plan ran {} {}, and its apply runs no other: {e}",
                        crate::versions::display(p.distribution),
                        p.version
                    )
                })?;
            (chosen, " (the version its plan ran)".to_owned())
        }
        None => {
            let wanted = wanted(ctx, (repo, branch, sha), target, (root, dir)).await?;
            if Versions::asks_nothing(&wanted) {
                return Ok(Binary::default());
            }
            let server = server_binary(ctx).await;
            let chosen = ctx.versions.choose(&wanted, server.as_ref()).await?;
            let asked = wanted
                .version
                .as_ref()
                .map_or_else(String::new, |c| format!(" (asked: `{c}`)"));
            if let Chosen::Server = chosen {
                let pinned = server.map(|s| Pinned {
                    distribution: s.distribution,
                    version: s.version,
                    sha256: None,
                });
                return Ok(Binary {
                    pinned,
                    ..Binary::default()
                });
            }
            (chosen, asked)
        }
    };
    match chosen {
        Chosen::Server => Ok(Binary {
            pinned: pinned.cloned(),
            ..Binary::default()
        }),
        Chosen::Downloaded {
            distribution,
            version,
            path,
            sha256,
            lease,
        } => {
            let note = format!(
                "bosun runs {} {version}{asked}, downloaded and checked against its signed SHA256SUMS",
                crate::versions::display(distribution)
            );
            Ok(Binary {
                path: Some(path),
                note: Some(note),
                pinned: Some(Pinned {
                    distribution,
                    version,
                    sha256: Some(sha256),
                }),
                lease: Some(lease),
            })
        }
    }
}

/// What the project asks for.
async fn wanted(
    ctx: &Context,
    (repo, branch, sha): (&str, &str, &Sha),
    target: &Target,
    (root, dir): (&Path, &Path),
) -> Result<Wanted, String> {
    let (key, distribution) = match super::plan::read_config(ctx, (repo, branch), sha).await {
        Ok(Some(Ok(config))) => config
            .project(&target.dir, &target.workspace, target.name.as_deref())
            .map(|p| (p.terraform_version.clone(), p.terraform_distribution))
            .unwrap_or_default(),
        // No config, or one that does not read (the plan reports that itself).
        Ok(_) => (None, None),
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "reading the repo config failed");
            return Err(
                "bosun could not read the repo config; the operator's logs say why.".into(),
            );
        }
    };
    let version = match key {
        Some(text) => Some(
            Constraint::parse_key(&text)
                .map_err(|e| format!("The project's terraform_version: {e}"))?,
        ),
        None => {
            let (root, dir) = (root.to_owned(), dir_in(root, dir));
            tokio::task::spawn_blocking(move || required::required_version(&root, &dir))
                .await
                .map_err(|_| "reading the project's required_version failed".to_owned())?
                .map_err(|e| format!("The project's required_version cannot be read: {e}"))?
        }
    };
    Ok(Wanted {
        distribution,
        version,
    })
}

/// `dir` relative to the checkout `root` (the run is given both as paths).
fn dir_in(root: &Path, dir: &Path) -> PathBuf {
    dir.strip_prefix(root)
        .map(|d| {
            if d.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                d.to_owned()
            }
        })
        .unwrap_or_else(|_| dir.to_owned())
}

/// What the server's binary is, asked once per process (`None`: it could not say; logged).
async fn server_binary(ctx: &Context) -> Option<ServerBinary> {
    let found = ctx
        .versions
        .server
        .get_or_try_init(|| async {
            let version = ctx.terraform.version().await?;
            let version = Version::parse(&version)
                .ok_or_else(|| anyhow::anyhow!("`{version}` is not a version"))?;
            let distribution: Distribution = ctx.terraform.distribution().await?;
            anyhow::Ok(ServerBinary {
                distribution,
                version,
            })
        })
        .await;
    match found {
        Ok(server) => Some(server.clone()),
        Err(e) => {
            tracing::error!(
                error = format!("{e:#}"),
                "asking BOSUN_TERRAFORM_BIN its version failed"
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_project_dir_is_taken_relative_to_its_checkout() {
        let root = Path::new("/data/checkouts/x");
        assert_eq!(
            dir_in(root, Path::new("/data/checkouts/x/envs/prod")),
            Path::new("envs/prod")
        );
        assert_eq!(dir_in(root, Path::new("/data/checkouts/x")), Path::new("."));
    }
}
