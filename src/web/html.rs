//! HTML for bosun's pages: escaping, the page layout, times. Every string that reaches a page
//! goes through [`esc`] unless it is markup this module or a page built.

use std::fmt::Write as _;

use crate::ids::{Dir, Workspace};

/// Text made safe for an HTML text node or a quoted attribute value.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A path segment or query value made safe for a URL (then for HTML with [`esc`]).
pub fn url_part(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A time as `<time>`: UTC in the markup (readable without script), shown in the viewer's
/// time zone by `/assets/app.js`.
pub fn time(ms: i64) -> String {
    let Ok(ms) = u64::try_from(ms) else {
        return String::from("—");
    };
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    let iso = humantime::format_rfc3339_millis(at).to_string();
    // 1970-01-01T00:00:00.000Z → 1970-01-01 00:00:00 UTC
    let shown = format!("{} {} UTC", &iso[..10], &iso[11..19]);
    format!("<time datetime=\"{iso}\">{shown}</time>")
}

/// Who is looking, as the layout shows it.
pub struct Viewer<'a> {
    /// The GitHub login, or `None` for the operator's token.
    pub login: Option<&'a str>,
    /// The CSRF token for the forms of this page (sign-out among them).
    pub csrf: &'a str,
}

/// The navigation, in order: (path, label).
const NAV: [(&str, &str); 3] = [("/", "Overview"), ("/locks", "Locks"), ("/audit", "Audit")];

/// A whole page: `title` (text), `current` (the nav path it belongs to), and `body` (markup).
pub fn page(title: &str, current: &str, viewer: &Viewer<'_>, body: &str) -> String {
    let mut nav = String::new();
    for (path, label) in NAV {
        let here = if path == current {
            " aria-current=\"page\""
        } else {
            ""
        };
        let _ = write!(nav, "<li><a href=\"{path}\"{here}>{label}</a></li>");
    }
    let who = match viewer.login {
        Some(login) => format!(
            "<form method=\"post\" action=\"/logout\" class=\"signout\">\
             <span>Signed in as <strong>{}</strong></span>\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <button type=\"submit\">Sign out</button></form>",
            esc(login),
            esc(viewer.csrf)
        ),
        None => String::from("<span>Signed in as the operator (API token)</span>"),
    };
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · bosun</title>\
         <link rel=\"stylesheet\" href=\"/assets/app.css\">\
         <script src=\"/assets/app.js\" defer></script></head>\
         <body><a class=\"skip\" href=\"#main\">Skip to content</a>\
         <header><a class=\"brand\" href=\"/\">bosun</a>\
         <nav aria-label=\"Main\"><ul>{nav}</ul></nav>{who}</header>\
         <main id=\"main\" tabindex=\"-1\"><h1>{title}</h1>{body}</main></body></html>\n",
        title = esc(title),
    )
}

/// A table in a horizontally scrolling box (narrow screens), with a caption and a header row;
/// each row's cells are markup. An empty table says `empty` instead.
pub fn table(caption: &str, head: &[&str], rows: &[Vec<String>], empty: &str) -> String {
    if rows.is_empty() {
        return format!(
            "<section><h2>{}</h2><p class=\"empty\">{}</p></section>",
            esc(caption),
            esc(empty)
        );
    }
    let mut out = format!(
        "<section><h2>{}</h2><div class=\"scroll\" tabindex=\"0\" role=\"region\" aria-label=\"{}\"><table><thead><tr>",
        esc(caption),
        esc(caption)
    );
    for h in head {
        let _ = write!(out, "<th scope=\"col\">{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{cell}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div></section>");
    out
}

/// A status as a labelled badge (the class picks its colour; the word is always there).
pub fn badge(status: &str) -> String {
    let class = match status {
        "running" | "queued" | "planning" | "applying" => "busy",
        "done" | "succeeded" | "applied" | "planned" | "in_sync" | "released" => "ok",
        "failed" | "error" | "interrupted" | "refused" | "drifted" => "bad",
        _ => "plain",
    };
    format!("<span class=\"badge {class}\">{}</span>", esc(status))
}

/// A project's label: its name, else `dir` (and `workspace` unless it is `default`).
pub fn project(dir: &Dir, workspace: &Workspace, name: Option<&str>) -> String {
    match name {
        Some(name) => esc(name),
        None if workspace.is_default() => esc(dir.as_str()),
        None => format!("{} ({})", esc(dir.as_str()), esc(workspace.as_str())),
    }
}

/// A link to a repository's page.
pub fn repo_link(repository: &str) -> String {
    let (owner, name) = repository.split_once('/').unwrap_or((repository, ""));
    format!(
        "<a href=\"/repos/{}/{}\">{}</a>",
        url_part(owner),
        url_part(name),
        esc(repository)
    )
}

/// A plan's text as a diff: `+` lines added, `-` removed, `~` changed, each a coloured line
/// with its sign kept (colour is never the only cue).
pub fn plan_diff(text: &str) -> String {
    let mut out = String::from("<pre class=\"diff\">");
    for line in text.lines() {
        let class = match line.trim_start().chars().next() {
            Some('+') => "add",
            Some('-') => "del",
            Some('~') => "chg",
            _ => "",
        };
        if class.is_empty() {
            let _ = writeln!(out, "{}", esc(line));
        } else {
            let _ = writeln!(out, "<span class=\"{class}\">{}</span>", esc(line));
        }
    }
    out.push_str("</pre>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_special_character_is_escaped() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(url_part("a b/c?d"), "a%20b%2Fc%3Fd");
    }

    #[test]
    fn a_page_escapes_its_title_and_login_and_carries_the_csrf_token() {
        let viewer = Viewer {
            login: Some("<mallory>"),
            csrf: "tok\"en",
        };
        let html = page("<b>", "/", &viewer, "<p>body</p>");
        assert!(html.contains("<title>&lt;b&gt; · bosun</title>"));
        assert!(html.contains("<span>Signed in as <strong>&lt;mallory&gt;</strong></span>"));
        assert!(html.contains("value=\"tok&quot;en\""));
        assert!(html.contains("<a href=\"/\" aria-current=\"page\">Overview</a>"));
        assert!(html.contains("name=\"viewport\""));
        assert!(!html.contains("<mallory>"));
    }

    #[test]
    fn times_are_utc_in_the_markup() {
        assert_eq!(
            time(0),
            "<time datetime=\"1970-01-01T00:00:00.000Z\">1970-01-01 00:00:00 UTC</time>"
        );
    }

    #[test]
    fn a_plan_diff_keeps_its_signs_and_escapes() {
        let html = plan_diff("  + resource \"a\" <x>\n  - old\n  ~ changed\nPlan: 1 to add");
        assert!(html.contains("<span class=\"add\">  + resource &quot;a&quot; &lt;x&gt;</span>"));
        assert!(html.contains("<span class=\"del\">  - old</span>"));
        assert!(html.contains("<span class=\"chg\">  ~ changed</span>"));
        assert!(html.contains("\nPlan: 1 to add\n"));
    }

    #[test]
    fn an_empty_table_says_so_and_a_full_one_has_column_headers() {
        assert!(table("Locks", &["Project"], &[], "No locks.").contains("No locks."));
        let t = table("Locks", &["Project"], &[vec!["x".into()]], "No locks.");
        assert!(t.contains("<th scope=\"col\">Project</th>") && t.contains("<td>x</td>"));
    }
}
