//! Comments on issues and pull requests: posting, finding bosun's own, editing, minimizing,
//! reacting.

use crate::ids::InstallationId;
use std::ops::ControlFlow;

use http::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::GitHub;
use super::wire::{ListedComment, MAX_LISTING_PAGES, MINIMIZE_COMMENT, check_repo};
use crate::github::request::{Auth, Lookup, Request, Resend};
use crate::github::{CommentRef, GitHubError, Reaction};

#[derive(Deserialize)]
struct Created {
    id: u64,
    node_id: String,
}

impl GitHub {
    /// Posts a comment on an issue or pull request; returns its ids. Never posted twice: see
    /// the `unique` layer.
    pub async fn create_comment(
        &self,
        installation_id: InstallationId,
        repo: &str,
        number: u64,
        body: &str,
    ) -> Result<CommentRef, GitHubError> {
        let request = Request::write(
            "creating a comment",
            Method::POST,
            format!("/repos/{repo}/issues/{number}/comments"),
            installation_id.0,
            Some(json!({ "body": body })),
        )
        .resend(Resend::IfNotMade(Lookup::Comment {
            repo: repo.to_owned(),
            number,
        }));
        let created: Created = self.fetch(request).await?;
        Ok(CommentRef {
            id: created.id,
            node_id: created.node_id,
        })
    }

    /// The comments on issue or pull request `number` written by `author` (bosun's own bot
    /// login) whose body starts with `prefix`, oldest first: how a comment whose id was lost
    /// (its replica died between posting it and recording it) is found again.
    pub async fn comments_by(
        &self,
        installation_id: InstallationId,
        repo: &str,
        number: u64,
        author: &str,
        prefix: &str,
    ) -> Result<Vec<CommentRef>, GitHubError> {
        let what = "listing a pull request's comments";
        check_repo(what, repo)?;
        let path = format!("/repos/{repo}/issues/{number}/comments");
        let mut found = Vec::new();
        self.each_page::<Vec<ListedComment>>(
            what,
            &path,
            Auth::Installation(installation_id.0),
            MAX_LISTING_PAGES,
            |page| {
                found.extend(
                    page.into_iter()
                        .filter(|c| {
                            c.user.as_ref().is_some_and(|u| u.login == author)
                                && c.body.as_deref().is_some_and(|b| b.starts_with(prefix))
                        })
                        .map(|c| CommentRef {
                            id: c.id,
                            node_id: c.node_id,
                        }),
                );
                ControlFlow::Continue(())
            },
        )
        .await?;
        Ok(found)
    }

    /// Replaces the body of an existing issue or pull-request comment. Waiting edits of one
    /// comment are coalesced: the newest is sent.
    pub async fn update_comment(
        &self,
        installation_id: InstallationId,
        repo: &str,
        comment_id: u64,
        body: &str,
    ) -> Result<(), GitHubError> {
        let request = Request::write(
            "updating a comment",
            Method::PATCH,
            format!("/repos/{repo}/issues/comments/{comment_id}"),
            installation_id.0,
            Some(json!({ "body": body })),
        )
        .keyed(format!("comment:{comment_id}"));
        self.send(request).await?;
        Ok(())
    }

    /// Hides a comment as outdated (GraphQL `minimizeComment`, classifier `OUTDATED`);
    /// `node_id` is [`CommentRef::node_id`].
    pub async fn minimize_comment(
        &self,
        installation_id: InstallationId,
        node_id: &str,
    ) -> Result<(), GitHubError> {
        let what = "minimizing a comment";
        let mut request = Request::graphql(
            what,
            installation_id.0,
            MINIMIZE_COMMENT,
            json!({ "id": node_id }),
        )
        .keyed(format!("minimize:{node_id}"));
        request.auth = Auth::Installation(installation_id.0);
        let Some(data) = self.graphql(request).await? else {
            return Ok(());
        };
        let minimized = data
            .pointer("/minimizeComment/minimizedComment/isMinimized")
            .and_then(Value::as_bool);
        match minimized {
            Some(true) => Ok(()),
            _ => Err(GitHubError::Decode {
                what: what.into(),
                message: "the answer does not say the comment is minimized".into(),
            }),
        }
    }

    /// Reacts to an issue or pull-request comment; reacting twice the same way is not an error
    /// (GitHub answers 201 for a new reaction, 200 when this App had already reacted so).
    pub async fn add_reaction(
        &self,
        installation_id: InstallationId,
        repo: &str,
        comment_id: u64,
        content: Reaction,
    ) -> Result<(), GitHubError> {
        let request = Request::write(
            "reacting to a comment",
            Method::POST,
            format!("/repos/{repo}/issues/comments/{comment_id}/reactions"),
            installation_id.0,
            Some(json!({ "content": content.as_str() })),
        );
        self.send(request).await?;
        Ok(())
    }
}
