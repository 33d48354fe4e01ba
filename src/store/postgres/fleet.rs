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

/// The span of a write window, in milliseconds.
const WINDOW_MS: i64 = 60_000;

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

    /// Takes a place in the installation's write window if it has fewer than `per_minute`
    /// writes of the last minute, in one statement: replicas writing at once take their turns
    /// on the row. The row keeps when each write of the window got its turn.
    pub(super) async fn spend_write_token(
        &self,
        installation: i64,
        per_minute: u32,
        now: Millis,
    ) -> anyhow::Result<WriteToken> {
        let limit = i32::try_from(per_minute.max(1)).unwrap_or(i32::MAX);
        // `kept` is the window as it is now, oldest first; `open` whether it has room (every
        // right-hand side reads the row as it was).
        let kept = "ARRAY(SELECT x FROM unnest(b.sent) AS x WHERE x > $2 - $4 ORDER BY x)";
        let open = format!("cardinality({kept}) < $3");
        let sql = format!(
            "INSERT INTO write_budget AS b (installation, sent, granted, denied, last_granted) \
             VALUES ($1, ARRAY[$2::BIGINT], 1, 0, TRUE) \
             ON CONFLICT (installation) DO UPDATE SET \
               sent = CASE WHEN {open} THEN {kept} || $2::BIGINT ELSE {kept} END, \
               granted = b.granted + CASE WHEN {open} THEN 1 ELSE 0 END, \
               denied = b.denied + CASE WHEN {open} THEN 0 ELSE 1 END, \
               last_granted = {open} \
             RETURNING last_granted, sent"
        );
        let (granted, sent): (bool, Vec<i64>) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(installation)
            .bind(now)
            .bind(limit)
            .bind(WINDOW_MS)
            .fetch_one(&self.pool)
            .await
            .context("taking a place in the stored write window")?;
        Ok(if granted {
            WriteToken::Granted
        } else {
            // A place frees when enough of the window's writes are a minute old.
            let freeing = sent
                .len()
                .saturating_sub(usize::try_from(limit).unwrap_or(0));
            let at = sent.get(freeing).copied().unwrap_or(now);
            let wait = (at + WINDOW_MS - now).clamp(1, WINDOW_MS);
            WriteToken::Denied {
                retry_after: Duration::from_millis(u64::try_from(wait).unwrap_or(1)),
            }
        })
    }
}
