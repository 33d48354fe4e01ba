//! The audit trail: one append-only entry per thing bosun did or was asked to do (a plan, an
//! apply, an unlock, a lock taken or released, an apply refused, a config error, a drift run,
//! an API call that changes state), saying who, when, where and how it ended. Entries are
//! written once and never edited; only a retention setting prunes them by age
//! ([`retention`]). Free of HTTP and SQL: the store keeps entries, `server::audit` serves
//! them, `workflow::audit_log` records them.

pub mod retention;

use crate::ids::{PrNumber, Sha};
use serde::Serialize;

use crate::plan::Target;
use crate::store::Millis;

/// Who did it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A GitHub user, by login (the comment's author).
    Github(String),
    /// A caller of bosun's API, by the token's name ("operator" for BOSUN_API_TOKEN).
    ApiToken(String),
    /// bosun itself (an autoplan, a merge, a schedule, a reconcile).
    Bosun,
}

/// The name of BOSUN_API_TOKEN's holder in the trail.
pub const OPERATOR: &str = "operator";

impl Actor {
    pub fn kind_str(&self) -> &'static str {
        match self {
            Self::Github(_) => "github",
            Self::ApiToken(_) => "api_token",
            Self::Bosun => "bosun",
        }
    }

    /// The login or token name; "bosun" for bosun.
    pub fn name(&self) -> &str {
        match self {
            Self::Github(n) | Self::ApiToken(n) => n,
            Self::Bosun => "bosun",
        }
    }

    /// The actor of a stored (kind, name) pair; an unknown kind reads as bosun's.
    pub fn from_parts(kind: &str, name: String) -> Self {
        match kind {
            "github" => Self::Github(name),
            "api_token" => Self::ApiToken(name),
            _ => Self::Bosun,
        }
    }
}

/// `{"kind": "github" | "api_token" | "bosun", "name": login, token name or "bosun"}`.
impl Serialize for Actor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let mut out = s.serialize_struct("Actor", 2)?;
        out.serialize_field("kind", self.kind_str())?;
        out.serialize_field("name", self.name())?;
        out.end()
    }
}

macro_rules! kinds {
    ($($variant:ident => $s:literal),* $(,)?) => {
        /// What happened.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Kind { $($variant),* }

        impl Kind {
            pub const ALL: &[Kind] = &[$(Kind::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $(Kind::$variant => $s),* }
            }
        }
    };
}

kinds! {
    Plan => "plan",
    Apply => "apply",
    Unlock => "unlock",
    LockTaken => "lock_taken",
    LockReleased => "lock_released",
    ApplyRefused => "apply_refused",
    ConfigError => "config_error",
    PolicyDecision => "policy_decision",
    DriftRun => "drift_run",
    ApiCall => "api_call",
}

impl Kind {
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.as_str() == s)
    }
}

impl Serialize for Kind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The project an entry is about, as it is named in comments and check runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Project {
    /// The project's display name (its name, else its dir; `:workspace` unless default).
    pub name: String,
    pub dir: crate::ids::Dir,
    pub workspace: crate::ids::Workspace,
}

impl From<&Target> for Project {
    fn from(t: &Target) -> Self {
        Self {
            name: t.display_name(),
            dir: t.dir.clone(),
            workspace: t.workspace.clone(),
        }
    }
}

/// The most of an entry's `detail` kept, in bytes (cut on a char boundary, marked).
pub const MAX_DETAIL_BYTES: usize = 2048;

/// An entry to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    pub at: Millis,
    pub actor: Actor,
    pub kind: Kind,
    pub repository: String,
    pub pr: Option<PrNumber>,
    pub project: Option<Project>,
    pub sha: Option<Sha>,
    /// How it ended, one word: planned, applied, failed, refused, taken, released, …
    pub outcome: String,
    /// Reasons and short text, redacted by whoever records it, bounded by [`bounded`].
    pub detail: String,
    /// The run whose log this entry links to (`{BOSUN_PUBLIC_URL}/runs/{id}`).
    pub run_id: Option<i64>,
}

impl NewEntry {
    /// An entry of `kind` by `actor` in `repository`, at now, with nothing else said yet.
    pub fn new(kind: Kind, actor: Actor, repository: &str, outcome: &str) -> Self {
        Self {
            at: crate::store::now_millis(),
            actor,
            kind,
            repository: repository.to_owned(),
            pr: None,
            project: None,
            sha: None,
            outcome: outcome.to_owned(),
            detail: String::new(),
            run_id: None,
        }
    }

    pub fn pr(mut self, pr: PrNumber) -> Self {
        self.pr = Some(pr);
        self
    }

    pub fn project(mut self, target: &Target) -> Self {
        self.project = Some(target.into());
        self
    }

    pub fn sha(mut self, sha: &Sha) -> Self {
        self.sha = Some(sha.clone()).filter(|s| !s.as_str().is_empty());
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = bounded(&detail.into());
        self
    }

    pub fn run(mut self, run_id: i64) -> Self {
        self.run_id = Some(run_id);
        self
    }
}

/// `detail` within [`MAX_DETAIL_BYTES`]: whole when it fits, else its start cut on a char
/// boundary and marked as cut.
pub fn bounded(detail: &str) -> String {
    const MARK: &str = " [cut]";
    if detail.len() <= MAX_DETAIL_BYTES {
        return detail.to_owned();
    }
    let mut end = MAX_DETAIL_BYTES - MARK.len();
    while !detail.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{MARK}", &detail[..end])
}

/// An entry as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: i64,
    pub entry: NewEntry,
}

/// Which entries a query wants; every field set narrows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub repository: Option<String>,
    pub pr: Option<PrNumber>,
    /// A project's display name or its dir.
    pub project: Option<String>,
    /// The actor's login or token name (case-insensitive).
    pub user: Option<String>,
    pub kind: Option<Kind>,
    /// At or after (ms).
    pub since: Option<Millis>,
    /// Before (ms).
    pub until: Option<Millis>,
}

/// A page is at most this long.
pub const MAX_LIMIT: u32 = 500;
/// A page without a limit asked for is this long.
pub const DEFAULT_LIMIT: u32 = 100;

/// One page of a query: entries newest first, and the `before` of the next page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub entries: Vec<Entry>,
    /// The id to ask `before` for the next (older) page; `None` on the last page.
    pub next: Option<i64>,
}

impl Page {
    /// The page from up to `limit + 1` entries read newest first: one more than the page
    /// holds tells that another page follows.
    pub fn of(mut read: Vec<Entry>, limit: u32) -> Self {
        let limit = limit as usize;
        let more = read.len() > limit;
        read.truncate(limit);
        let next = if more {
            read.last().map(|e| e.id)
        } else {
            None
        };
        Self {
            entries: read,
            next,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_detail_is_cut_on_a_char_boundary_within_the_bound() {
        let long = "é".repeat(MAX_DETAIL_BYTES);
        let cut = bounded(&long);
        assert!(cut.len() <= MAX_DETAIL_BYTES, "{}", cut.len());
        assert!(cut.ends_with(" [cut]"));
        assert_eq!(bounded("short"), "short");
    }

    #[test]
    fn kinds_round_trip_and_unknown_ones_do_not_parse() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(*k));
        }
        assert_eq!(Kind::parse("nope"), None);
    }

    #[test]
    fn a_page_says_where_the_next_begins_only_when_there_is_one() {
        let e = |id| Entry {
            id,
            entry: NewEntry::new(Kind::Plan, Actor::Bosun, "o/r", "planned"),
        };
        let page = Page::of(vec![e(9), e(8), e(7)], 2);
        assert_eq!(page.entries.len(), 2);
        assert_eq!(page.next, Some(8));
        assert_eq!(Page::of(vec![e(9), e(8)], 2).next, None);
    }
}
