//! How much `/events` holds at once before a body's signature is checked: at most
//! [`Intake::requests`] requests in flight and [`Intake::bytes`] bytes of their bodies in
//! memory. A request over either bound is answered `503` with `Retry-After` at once, before
//! more of its body is read, so a flood of large unsigned bodies costs bosun a bounded amount
//! of memory instead of all of it. Nothing is lost: GitHub records the failed delivery, and
//! bosun's redelivery scanner asks for it again.

use std::sync::Arc;

use axum::body::{Body, Bytes, HttpBody};
use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

/// Requests `/events` serves at once by default.
pub const DEFAULT_REQUESTS: usize = 64;
/// Bytes of bodies `/events` holds at once by default (room for four 25 MiB payloads).
pub const DEFAULT_BYTES: usize = 100 << 20;

/// The two bounds, shared by every `/events` request.
#[derive(Debug, Clone)]
pub struct Intake {
    requests: Arc<Semaphore>,
    bytes: Arc<Semaphore>,
    /// The bounds, for messages.
    max_requests: usize,
    budget: usize,
}

impl Default for Intake {
    fn default() -> Self {
        Self::new(DEFAULT_REQUESTS, DEFAULT_BYTES)
    }
}

/// Why a request was shed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shed {
    /// Too many requests in flight.
    Requests(usize),
    /// The bodies in flight would pass the byte budget.
    Bytes(usize),
}

impl Shed {
    pub fn reason(self) -> String {
        match self {
            Shed::Requests(n) => format!(
                "bosun is already reading its limit of {n} deliveries at once; try again shortly \
                 (bosun's redelivery scanner asks GitHub for failed deliveries)"
            ),
            Shed::Bytes(n) => format!(
                "this body would pass the {n} bytes of deliveries bosun holds at once; try again \
                 shortly (bosun's redelivery scanner asks GitHub for failed deliveries)"
            ),
        }
    }
}

/// A request's place in the intake, and the bytes its body holds; released on drop.
#[derive(Debug)]
pub struct Ticket {
    _request: OwnedSemaphorePermit,
    bytes: Option<OwnedSemaphorePermit>,
}

/// Why a body could not be read.
#[derive(Debug)]
pub enum ReadError {
    Shed(Shed),
    TooLarge,
    Unreadable(String),
}

impl Intake {
    /// At most `requests` requests and `bytes` bytes of body at once (each at least 1).
    pub fn new(requests: usize, bytes: usize) -> Self {
        let bytes = bytes.clamp(1, Semaphore::MAX_PERMITS);
        let requests = requests.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            requests: Arc::new(Semaphore::new(requests)),
            bytes: Arc::new(Semaphore::new(bytes)),
            max_requests: requests,
            budget: bytes,
        }
    }

    /// A place for one more request, or why not.
    pub fn enter(&self) -> Result<Ticket, Shed> {
        let request = self
            .requests
            .clone()
            .try_acquire_owned()
            .map_err(|_| Shed::Requests(self.max_requests))?;
        Ok(Ticket {
            _request: request,
            bytes: None,
        })
    }

    /// Reads `body` (at most `max` bytes), taking a byte of the budget for each byte held
    /// before it is held; the bytes stay taken until `ticket` is dropped. Over `max` is
    /// [`ReadError::TooLarge`]; over the budget is [`ReadError::Shed`].
    pub async fn read(
        &self,
        ticket: &mut Ticket,
        mut body: Body,
        max: usize,
    ) -> Result<Bytes, ReadError> {
        let mut buf: Vec<u8> = Vec::new();
        // A declared length is taken at once: a flood of large bodies is shed before any is
        // read.
        if let Some(len) = body.size_hint().exact() {
            let len = usize::try_from(len).unwrap_or(usize::MAX);
            if len > max {
                return Err(ReadError::TooLarge);
            }
            self.take(ticket, len)?;
            buf.reserve_exact(len);
        }
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| ReadError::Unreadable(e.to_string()))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            let held = buf.len() + data.len();
            if held > max {
                return Err(ReadError::TooLarge);
            }
            let taken = ticket.bytes.as_ref().map_or(0, |p| p.num_permits());
            if held > taken {
                self.take(ticket, held - taken)?;
            }
            buf.extend_from_slice(&data);
        }
        Ok(Bytes::from(buf))
    }

    /// Takes `n` more bytes of the budget for `ticket`.
    fn take(&self, ticket: &mut Ticket, n: usize) -> Result<(), ReadError> {
        if n == 0 {
            return Ok(());
        }
        let n32 = u32::try_from(n).map_err(|_| ReadError::TooLarge)?;
        let permit = match self.bytes.clone().try_acquire_many_owned(n32) {
            Ok(p) => p,
            Err(TryAcquireError::NoPermits) | Err(TryAcquireError::Closed) => {
                return Err(ReadError::Shed(Shed::Bytes(self.budget)));
            }
        };
        match &mut ticket.bytes {
            Some(held) => held.merge(permit),
            none => *none = Some(permit),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunked(parts: Vec<&'static [u8]>) -> Body {
        let stream = futures::stream::iter(
            parts
                .into_iter()
                .map(|p| Ok::<_, std::io::Error>(Bytes::from_static(p))),
        );
        Body::from_stream(stream)
    }

    #[tokio::test]
    async fn bodies_within_the_budget_are_read_and_released() {
        let intake = Intake::new(2, 10);
        let mut t = intake.enter().unwrap();
        let got = intake
            .read(&mut t, Body::from("12345678"), 100)
            .await
            .unwrap();
        assert_eq!(&got[..], b"12345678");
        assert_eq!(intake.bytes.available_permits(), 2);
        drop(t);
        assert_eq!(intake.bytes.available_permits(), 10);
        assert_eq!(intake.requests.available_permits(), 2);
    }

    #[tokio::test]
    async fn a_body_past_the_budget_is_shed_before_it_is_read() {
        let intake = Intake::new(4, 10);
        let mut first = intake.enter().unwrap();
        intake
            .read(&mut first, Body::from("123456"), 100)
            .await
            .unwrap();
        let mut second = intake.enter().unwrap();
        let err = intake
            .read(&mut second, Body::from("123456"), 100)
            .await
            .unwrap_err();
        assert!(matches!(err, ReadError::Shed(Shed::Bytes(10))), "{err:?}");
        // Streamed without a length: shed as soon as it passes the budget.
        let err = intake
            .read(&mut second, chunked(vec![b"12", b"34", b"56"]), 100)
            .await
            .unwrap_err();
        assert!(matches!(err, ReadError::Shed(_)), "{err:?}");
        drop((first, second));
        assert_eq!(intake.bytes.available_permits(), 10);
    }

    #[tokio::test]
    async fn a_streamed_body_over_the_cap_is_too_large() {
        let intake = Intake::new(4, 1000);
        let mut t = intake.enter().unwrap();
        let err = intake
            .read(&mut t, chunked(vec![b"1234", b"5678"]), 6)
            .await
            .unwrap_err();
        assert!(matches!(err, ReadError::TooLarge), "{err:?}");
        let err = intake
            .read(&mut t, Body::from("1234567"), 6)
            .await
            .unwrap_err();
        assert!(matches!(err, ReadError::TooLarge), "{err:?}");
    }

    #[tokio::test]
    async fn requests_past_the_bound_are_shed() {
        let intake = Intake::new(2, 10);
        let a = intake.enter().unwrap();
        let _b = intake.enter().unwrap();
        assert!(matches!(intake.enter(), Err(Shed::Requests(_))));
        drop(a);
        assert!(intake.enter().is_ok());
    }
}
