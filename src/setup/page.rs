//! The setup server's pages: the form that posts the manifest to GitHub, and the answers.

use serde_json::Value;

use super::Outcome;
use crate::web::html::esc;

fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title></head>\n<body style=\"font-family: sans-serif; max-width: 40rem; \
         margin: 2rem auto; padding: 0 1rem\">\n{body}\n</body></html>\n",
        esc(title)
    )
}

/// The page with the form: `action` is GitHub's new-App page (with the state), `manifest`
/// goes in the hidden `manifest` field, as the manifest flow wants it.
pub fn form(action: &str, manifest: &Value, github_web: &str) -> String {
    let pretty = serde_json::to_string_pretty(manifest).unwrap_or_default();
    let compact = serde_json::to_string(manifest).unwrap_or_default();
    layout(
        "bosun setup",
        &format!(
            "<h1>Create bosun's GitHub App</h1>\n\
             <p>This sends the manifest below to {web}; GitHub asks you to confirm and then \
             sends you back here, and bosun writes the App's id, key and webhook secret.</p>\n\
             <form id=\"create\" action=\"{action}\" method=\"post\">\n\
             <input type=\"hidden\" name=\"manifest\" value=\"{manifest}\">\n\
             <button type=\"submit\">Create the GitHub App</button>\n</form>\n\
             <details><summary>The manifest</summary><pre>{pretty}</pre></details>",
            web = esc(github_web),
            action = esc(action),
            manifest = esc(&compact),
            pretty = esc(&pretty),
        ),
    )
}

/// An answer that is not success.
pub fn message(title: &str, text: &str) -> String {
    layout(
        title,
        &format!("<h1>{}</h1>\n<p>{}</p>", esc(title), esc(text)),
    )
}

/// Success: what was made and what comes next (never a secret).
pub fn done(outcome: &Outcome) -> String {
    layout(
        "bosun setup: done",
        &format!(
            "<h1>The App {} is created</h1>\n<p>Its id, key and webhook secret are in {}. \
             The terminal shows the settings to start bosun with. You can close this tab.</p>",
            esc(&outcome.app.name),
            esc(&outcome
                .key_file
                .parent()
                .map(|p| p.display().to_string())
                .unwrap_or_default()),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_survives_the_attribute_escaping() {
        let m = serde_json::json!({ "name": "a\"<b>&'c" });
        let html = form("https://x/settings/apps/new?state=s", &m, "https://x");
        assert!(!html.contains("<b>"));
        let start = html.find("value=\"").unwrap() + 7;
        let end = start + html[start..].find('"').unwrap();
        let raw = html[start..end]
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&#39;", "'")
            .replace("&amp;", "&");
        assert_eq!(serde_json::from_str::<Value>(&raw).unwrap(), m);
    }
}
