//! The agent's life: register, send heartbeats at the interval the server names, register
//! again when the server has lost or stopped the device, deactivate when told to stop.
//!
//! `run` is dropped wherever it is waiting when a signal arrives (a request, a backoff, the
//! wait for the next heartbeat), so everything `stop` needs is kept on `Agent`, never in
//! `run`'s locals.

use crate::api::{Api, Device, Failure};
use crate::backoff::Backoff;
use crate::specs::Specs;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::{sleep, sleep_until, timeout, Instant};
use uuid::Uuid;

/// Retries while deactivating are quick: the process is on its way out.
const STOP_RETRY_BASE: Duration = Duration::from_millis(200);
const STOP_RETRY_CAP: Duration = Duration::from_secs(1);

pub struct Agent {
    api: Api,
    specs: Specs,
    backoff: Backoff,
    /// The device registered last: what `stop` deactivates. Registering again under the same
    /// name gives the same id.
    device: Option<Uuid>,
    /// The registration in flight. It runs as a task of its own, so a stop that cuts `run`
    /// short can still wait for its answer: the registration may land either way.
    registration: Option<JoinHandle<Result<Device, Failure>>>,
    /// The heartbeat interval the server named last.
    interval: Option<Duration>,
    stop_timeout: Duration,
}

impl Agent {
    pub fn new(api: Api, specs: Specs, backoff: Backoff, stop_timeout: Duration) -> Agent {
        Agent {
            api,
            specs,
            backoff,
            device: None,
            registration: None,
            interval: None,
            stop_timeout,
        }
    }

    /// Runs until a failure no retry can fix, and returns it. Drop the future to stop.
    pub async fn run(&mut self) -> String {
        loop {
            let device = match self.register().await {
                Ok(device) => device,
                Err(message) => return message,
            };
            if let Err(message) = self.heartbeats(device).await {
                return message;
            }
        }
    }

    async fn register(&mut self) -> Result<Uuid, String> {
        let mut failures = 0;
        loop {
            let (api, specs) = (self.api.clone(), self.specs.clone());
            let pending = self
                .registration
                .insert(tokio::spawn(async move { api.register(&specs).await }));
            let answer = pending.await.unwrap_or_else(|error| {
                Err(Failure::Transient(format!("register_device: {error}")))
            });
            self.registration = None;
            match answer {
                Ok(device) => {
                    let specs = &self.specs;
                    tracing::info!(
                        device_id = %device.id,
                        device_name = ?specs.device_name,
                        device_type = specs.device_type,
                        ram_gb = specs.ram_gb,
                        cpu_cores = specs.cpu_cores,
                        storage_gb = specs.storage_gb,
                        "{}",
                        if self.device.is_some() { "registered again" } else { "registered" }
                    );
                    self.device = Some(device.id);
                    return Ok(device.id);
                }
                Err(failure) => self.retry(failure, &mut failures).await?,
            }
        }
    }

    /// Sends heartbeats until the server says the device is gone (`Ok`: register again) or a
    /// failure no retry can fix (`Err`). The first goes right after registering, each next
    /// one the answer's `next_heartbeat_in_seconds` after the previous was sent.
    async fn heartbeats(&mut self, device: Uuid) -> Result<(), String> {
        let mut failures = 0;
        let mut answered = false;
        loop {
            let sent = Instant::now();
            match self.api.heartbeat(device).await {
                Ok(answer) => {
                    if failures > 0 {
                        tracing::info!(device_id = %device, failures, "heartbeats are answered again");
                        failures = 0;
                    }
                    answered = true;
                    self.backoff.reset();
                    let seconds = answer.next_heartbeat_in_seconds.max(1);
                    let interval = Duration::from_secs(seconds.into());
                    if self.interval != Some(interval) {
                        tracing::info!(seconds, "heartbeat interval");
                        self.interval = Some(interval);
                        self.backoff.set_cap(interval);
                    }
                    tracing::debug!(device_id = %device, is_active = answer.is_active, "heartbeat");
                    sleep_until(sent + interval).await;
                }
                Err(Failure::Gone(message)) => {
                    tracing::warn!(device_id = %device, "the server lost or stopped the device; registering it again: {message}");
                    if !answered {
                        // Gone again before a single heartbeat: something keeps stopping it.
                        // Back off rather than register in a tight loop.
                        sleep(self.backoff.next_delay()).await;
                    }
                    return Ok(());
                }
                Err(failure) => self.retry(failure, &mut failures).await?,
            }
        }
    }

    /// Waits before the next attempt, or says why there is none. The first failure of a run
    /// is a warning; the ones after it, until a success, are at debug.
    async fn retry(&mut self, failure: Failure, failures: &mut u32) -> Result<(), String> {
        let reason = match failure {
            Failure::Transient(message) => message,
            Failure::Unauthorized(message) if self.api.token().can_change() => {
                format!(
                    "{message} (will read {} again)",
                    self.api.token().describe()
                )
            }
            Failure::Unauthorized(message) => {
                return Err(format!(
                    "{message}: the token was refused, and {} cannot change while the agent runs \
                     (use COMPUTE_AGENT_TOKEN_FILE for tokens that rotate)",
                    self.api.token().describe()
                ))
            }
            Failure::Gone(message) | Failure::Permanent(message) => return Err(message),
        };
        let delay = self.backoff.next_delay();
        *failures += 1;
        let retry_in_ms = delay.as_millis() as u64;
        if *failures == 1 {
            tracing::warn!(retry_in_ms, "{reason}");
        } else {
            tracing::debug!(failures = *failures, retry_in_ms, "{reason}");
        }
        sleep(delay).await;
        Ok(())
    }

    /// Deactivates the device, retrying transient failures within the stop timeout. Nothing
    /// it meets makes the stop fail: a device that is not deactivated stops counting anyway
    /// once its heartbeats are missed (the server's active window).
    pub async fn stop(&mut self) {
        let stop_timeout = self.stop_timeout;
        let attempts = async {
            // A registration in flight first lands or fails: deactivating before it lands would
            // leave the device it creates (or starts again) active.
            if let Some(pending) = self.registration.take() {
                if let Ok(Ok(device)) = pending.await {
                    self.device = Some(device.id);
                }
            }
            let Some(device) = self.device else {
                tracing::info!("stopping before the device was registered: nothing to deactivate");
                return;
            };
            self.deactivate(device).await;
        };
        if timeout(stop_timeout, attempts).await.is_err() {
            tracing::warn!(
                timeout_ms = stop_timeout.as_millis() as u64,
                "could not deactivate in time; the device stops counting once its heartbeats are missed"
            );
        }
    }

    async fn deactivate(&self, device: Uuid) {
        let mut backoff = Backoff::new(STOP_RETRY_BASE, STOP_RETRY_CAP, fastrand::Rng::new());
        let can_change = self.api.token().can_change();
        loop {
            match self.api.deactivate(device).await {
                Ok(()) => {
                    tracing::info!(device_id = %device, "deactivated");
                    return;
                }
                Err(Failure::Gone(message)) => {
                    tracing::info!(device_id = %device, "already stopped on the server: {message}");
                    return;
                }
                Err(Failure::Transient(message)) => tracing::debug!("{message}"),
                Err(Failure::Unauthorized(message)) if can_change => tracing::debug!("{message}"),
                Err(failure) => {
                    tracing::warn!(device_id = %device, "cannot deactivate: {failure}");
                    return;
                }
            }
            sleep(backoff.next_delay()).await;
        }
    }
}
