//! The server's rules kept current: the server config (`BOSUN_SERVER_CONFIG`) is read again on
//! SIGHUP and replaces the rules whole, while work goes on (a job keeps the rules it read). A
//! file that does not read or parse leaves the rules in force and says why in the log.

use std::path::PathBuf;

use tokio_util::sync::CancellationToken;

use crate::config::powers::{self, Rules, ServerPolicy};

/// What a reload needs: the settings' own rules (the first entry, which a reload keeps), the
/// file, and the rules every job reads.
#[derive(Debug, Clone)]
pub struct ServerRules {
    pub settings: ServerPolicy,
    pub path: PathBuf,
    pub rules: Rules,
}

impl ServerRules {
    /// Reads the file again; on success its entries and workflows replace the old ones.
    pub fn reload(&self) -> Result<(), String> {
        let read = powers::read_server_config(&self.path)?;
        let entries = read.repos.len();
        self.rules.replace(ServerPolicy {
            server: Some(std::sync::Arc::new(read)),
            ..self.settings.clone()
        });
        tracing::info!(
            path = %self.path.display(),
            entries,
            "server config reloaded"
        );
        Ok(())
    }

    /// Reloads on every SIGHUP until `cancel`.
    pub async fn on_sighup(self, cancel: CancellationToken) {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let mut hup = match signal(SignalKind::hangup()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGHUP: the server config will not be reloaded");
                    return;
                }
            };
            loop {
                tokio::select! {
                    got = hup.recv() => if got.is_none() { return },
                    () = cancel.cancelled() => return,
                }
                if let Err(why) = self.reload() {
                    tracing::error!(
                        error = %why,
                        "the server config was not reloaded; the rules in force stay"
                    );
                }
            }
        }
        #[cfg(not(unix))]
        cancel.cancelled().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reload_with_bad_rego_keeps_the_policy_sets_in_force() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sets")).unwrap();
        let rego = dir.path().join("sets/deny.rego");
        std::fs::write(
            &rego,
            "package deny\nimport rego.v1\ndeny contains \"no\" if { input.bad }\n",
        )
        .unwrap();
        let path = dir.path().join("repos.yaml");
        std::fs::write(
            &path,
            "repos:\n- id: /.*/\n  policy_check: true\npolicies:\n  policy_sets:\n  - name: deny\n    path: sets\n",
        )
        .unwrap();
        let server = ServerRules {
            settings: ServerPolicy::strict(),
            path,
            rules: Rules::new(ServerPolicy::strict()),
        };
        server.reload().unwrap();
        let sets = |s: &ServerRules| {
            let rules = s.rules.current().for_repo("acme/infra", "main");
            rules.policies().map(|p| p.sets[0].modules[0].text.clone())
        };
        let before = sets(&server).expect("policy checks are on");
        std::fs::write(&rego, "package deny\n\ndeny contains if\n").unwrap();
        let e = server.reload().unwrap_err();
        assert!(e.contains("policies.policy_sets[0].path"), "{e}");
        assert!(e.contains("deny.rego:3"), "{e}");
        assert_eq!(sets(&server), Some(before), "the old sets stay");
    }
}
