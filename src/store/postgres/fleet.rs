//! Leadership by session-level advisory locks on one dedicated connection, and the stored
//! write budgets (see [`crate::store::fleet`]).

use std::collections::HashSet;
use std::time::Duration;

use anyhow::Context as _;
use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use tokio::sync::Mutex;

use super::PgStore;
use crate::store::Millis;
use crate::store::checked::pg_query_scalar;
use crate::store::fleet::{Duty, WriteToken};

/// The first key of a leadership advisory lock; the second is the duty.
const LEADERSHIP: i32 = 0x626f_0010;

/// Tokens a little under one count as one: float sums drift.
const EPSILON: f64 = 1e-6;

/// The connection whose session holds this replica's leadership locks. The locks live as
/// long as the session: when the replica dies or the connection breaks, PostgreSQL releases
/// them, and another replica wins them at its next try.
pub(super) struct Leader {
    options: PgConnectOptions,
    held: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    conn: Option<PgConnection>,
    duties: HashSet<Duty>,
}

impl std::fmt::Debug for Leader {
    // The options hold the password: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Leader")
    }
}

impl Leader {
    pub(super) fn new(options: PgConnectOptions) -> Self {
        Self {
            options,
            held: Mutex::new(Held::default()),
        }
    }

    async fn lead(&self, duty: Duty) -> anyhow::Result<bool> {
        let mut guard = self.held.lock().await;
        let held = &mut *guard;
        if let Some(conn) = held.conn.as_mut()
            && conn.ping().await.is_err()
        {
            // The session is gone, and its locks with it.
            held.conn = None;
            held.duties.clear();
        }
        if held.duties.contains(&duty) {
            return Ok(true);
        }
        let conn = match held.conn.take() {
            Some(conn) => conn,
            None => PgConnection::connect_with(&self.options)
                .await
                .context("connecting to PostgreSQL for leadership")?,
        };
        let conn = held.conn.insert(conn);
        let won = pg_query_scalar!(
            "SELECT pg_try_advisory_lock($1, $2) AS \"won!\"",
            LEADERSHIP,
            duty as i32
        )
        .fetch_one(&mut *conn)
        .await;
        match won {
            Ok(won) => {
                if won {
                    held.duties.insert(duty);
                }
                Ok(won)
            }
            Err(e) => {
                held.conn = None;
                held.duties.clear();
                Err(e).context("trying the leadership lock")
            }
        }
    }
}

impl PgStore {
    pub(super) async fn lead_duty(&self, duty: Duty) -> anyhow::Result<bool> {
        self.leader.lead(duty).await
    }

    /// Refills the installation's bucket for the time since its last refill and spends one
    /// token if there is one, in one statement: replicas spending at once take their turns
    /// on the row. A new bucket starts full.
    pub(super) async fn spend_write_token(
        &self,
        installation: i64,
        per_minute: u32,
        burst: u32,
        now: Millis,
    ) -> anyhow::Result<WriteToken> {
        let burst = f64::from(burst.max(1));
        let per_milli = f64::from(per_minute.max(1)) / 60_000.0;
        // `refill` is the bucket after refilling, before spending (every right-hand side
        // reads the row as it was).
        let refill = "least($2, b.tokens + greatest(0, $3 - b.refilled_at) * $4)";
        let sql = format!(
            "INSERT INTO write_budget AS b \
               (installation, tokens, refilled_at, granted, denied, last_granted) \
             VALUES ($1, $2 - 1, $3, 1, 0, TRUE) \
             ON CONFLICT (installation) DO UPDATE SET \
               tokens = {refill} - CASE WHEN {refill} >= 1 - $5 THEN 1 ELSE 0 END, \
               refilled_at = greatest($3, b.refilled_at), \
               granted = b.granted + CASE WHEN {refill} >= 1 - $5 THEN 1 ELSE 0 END, \
               denied = b.denied + CASE WHEN {refill} >= 1 - $5 THEN 0 ELSE 1 END, \
               last_granted = {refill} >= 1 - $5 \
             RETURNING last_granted, tokens"
        );
        let (granted, tokens): (bool, f64) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(installation)
            .bind(burst)
            .bind(now)
            .bind(per_milli)
            .bind(EPSILON)
            .fetch_one(&self.pool)
            .await
            .context("spending a token of the stored write budget")?;
        Ok(if granted {
            WriteToken::Granted
        } else {
            let missing = (1.0 - tokens).max(0.0);
            WriteToken::Denied {
                retry_after: Duration::from_secs_f64(missing / per_milli / 1000.0),
            }
        })
    }
}
