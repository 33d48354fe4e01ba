//! A project's Terraform run held across replicas (see `Store::hold_run`).

/// Held while a run of one project lasts; dropping it lets the next run of the project start
/// on any replica. With PostgreSQL it owns the connection whose session holds the advisory
/// lock: dropping the connection ends the session, which releases the lock.
#[derive(Default)]
pub struct RunHold {
    _held: Option<Box<dyn Send + Sync>>,
}

impl RunHold {
    pub(super) fn of(held: impl Send + Sync + 'static) -> Self {
        Self {
            _held: Some(Box::new(held)),
        }
    }
}

impl std::fmt::Debug for RunHold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RunHold")
    }
}
