//! How a workflow's steps end early: with the job's summary once the pull request has been
//! told why (a refusal, a failed hook, a bad config), or with an error. Steps return
//! `Result<_, Stop>`, so a workflow reads as its steps joined by `?`.

/// Why a workflow's steps stopped before the end.
pub(super) enum Stop {
    /// Stopped on purpose, the pull request told why: the job's summary.
    Told(String),
    /// Failed: the job fails with this error.
    Failed(anyhow::Error),
}

impl<E: Into<anyhow::Error>> From<E> for Stop {
    fn from(e: E) -> Self {
        Stop::Failed(e.into())
    }
}

impl Stop {
    /// Stops with the summary of what told the pull request why, or with its error.
    pub(super) fn told(said: anyhow::Result<String>) -> Stop {
        match said {
            Ok(summary) => Stop::Told(summary),
            Err(e) => Stop::Failed(e),
        }
    }
}

/// The job's outcome: its summary when the steps ran to the end or stopped on purpose.
pub(super) fn outcome(steps: Result<String, Stop>) -> anyhow::Result<String> {
    match steps {
        Ok(summary) | Err(Stop::Told(summary)) => Ok(summary),
        Err(Stop::Failed(e)) => Err(e),
    }
}
