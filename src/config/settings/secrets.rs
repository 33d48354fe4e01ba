//! The settings that hold secrets: the planfile key, the environment passed through to
//! Terraform, and the list of every secret value for the redactor.

use std::path::Path;

use super::{Entry, PassEnv, PlanfileKey, Secret, Settings, SettingsError, Sources};

impl Settings {
    /// Every secret value the settings hold, with what it is (for a warning when one is too
    /// short to redact): webhook secrets, the App key, the database password, the planfile
    /// key, the API token, the OAuth client secret, the notification URL, and the environment passed through
    /// to Terraform.
    pub fn secrets(&self) -> Vec<(String, Secret)> {
        let mut out: Vec<(String, Secret)> = self
            .github
            .webhook_secrets
            .iter()
            .map(|s| ("the webhook secret".to_owned(), s.clone()))
            .collect();
        out.push((
            "the GitHub App key".to_owned(),
            self.github.app_key_pem.clone(),
        ));
        if let Some(password) = url_password(self.database_url.expose()) {
            out.push(("the database password".to_owned(), Secret::new(password)));
        }
        if let PlanfileKey::Given(key) = &self.planfile_key {
            out.push(("the planfile key".to_owned(), key.clone()));
        }
        if let Some(token) = &self.api_token {
            out.push(("the API token".to_owned(), token.clone()));
        }
        if let Some(oauth) = &self.oauth {
            out.push((
                "the OAuth client secret".to_owned(),
                oauth.client_secret.clone(),
            ));
        }
        if let Some(url) = &self.notify_url {
            out.push(("the notification URL".to_owned(), url.clone()));
        }
        for (name, value) in self.terraform_env.secrets() {
            out.push((format!("passed-through variable {name}"), value.clone()));
        }
        out
    }
}

/// The password in a URL's user info (`scheme://user:password@host/…`), if any.
pub(super) fn url_password(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let (userinfo, _) = authority.rsplit_once('@')?;
    let (_, password) = userinfo.split_once(':')?;
    Some(password).filter(|p| !p.is_empty())
}

/// The planfile key from the value or the file, whichever sits in the higher layer; else the
/// key file in the data directory.
pub(super) fn planfile_key(
    sources: &Sources,
    data_dir: &Path,
) -> Result<PlanfileKey, SettingsError> {
    let value = sources
        .pick("planfile_key")
        .filter(|(_, v)| !v.trim().is_empty());
    let file = sources
        .pick("planfile_key_file")
        .filter(|(_, v)| !v.trim().is_empty());
    let (key, text) = match (value, file) {
        (None, None) => return Ok(PlanfileKey::File(data_dir.join("planfile.key"))),
        (Some((rv, _)), Some((rf, _))) if rv == rf => {
            return Err(SettingsError::of(
                "planfile_key",
                "set either the key or its _FILE form, not both",
            ));
        }
        (Some((rv, v)), Some((rf, _))) if rv < rf => ("planfile_key", v.to_owned()),
        (Some((_, v)), None) => ("planfile_key", v.to_owned()),
        (_, Some((_, path))) => {
            let text = std::fs::read_to_string(path.trim()).map_err(|e| {
                SettingsError::of(
                    "planfile_key_file",
                    format!("cannot read {}: {e}", path.trim()),
                )
            })?;
            ("planfile_key_file", text)
        }
    };
    crate::store::seal::decode_key(&text).map_err(|e| SettingsError::of(key, e))?;
    Ok(PlanfileKey::Given(Secret::new(text.trim())))
}

/// The variables the `terraform_*pass_env` settings name, with their values from bosun's
/// environment: the plan and apply lists, each `terraform_pass_env` when not set.
pub(super) fn pass_env(sources: &Sources) -> Result<PassEnv, SettingsError> {
    let entries = |key: &str| {
        Entry::parse_list(sources.get_or_default(key)).map_err(|e| SettingsError::of(key, e))
    };
    let shared = entries("terraform_pass_env")?;
    let (plan, apply) = (
        entries("terraform_plan_pass_env")?,
        entries("terraform_apply_pass_env")?,
    );
    let value = |name: &str| sources.pass_env.get(name).cloned();
    // Each list's missing variable is named with its own setting.
    for (key, list) in [
        ("terraform_pass_env", &shared),
        ("terraform_plan_pass_env", &plan),
        ("terraform_apply_pass_env", &apply),
    ] {
        PassEnv::resolve(list, &[], value).map_err(|e| SettingsError::of(key, e))?;
    }
    let pick = |own: Vec<Entry>| if own.is_empty() { shared.clone() } else { own };
    PassEnv::resolve(&pick(plan), &pick(apply), value)
        .map_err(|e| SettingsError::of("terraform_pass_env", e))
}
