//! The webhook deliverer: a task beside the server that, while a subscription URL is set, lands
//! queued changes as they fall due, makes webhooks of the world's events and POSTs each to the
//! URL, signed, with Linq's retries, the duplicates and reordering the options ask for, and every
//! attempt logged.
//!
//! First attempts go one after another, in the order of the events (a late webhook's after the
//! next one's), so that a subscriber sees changes in the order they happened unless the reorder
//! fault says otherwise; retries and duplicates run beside them.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::oneshot;
use tokio::task::JoinSet;

use crate::api::Shared;
use crate::subscription::MAX_ATTEMPTS;
use crate::webhook::{settles, sign, unix_seconds, Delivery, Fate, Job};

/// How long the deliverer sleeps when nothing falls due; any change wakes it sooner.
const IDLE: Duration = Duration::from_secs(3600);

/// Runs until the task is aborted (when the sandbox stops); its deliveries stop with it.
pub async fn run(shared: Arc<Shared>) {
    let mut deliverer = Deliverer {
        client: None,
        shared: shared.clone(),
        tasks: JoinSet::new(),
        tail: None,
        held: Vec::new(),
    };
    loop {
        let now = Instant::now();
        let (jobs, next_due, hold_for) = {
            let mut core = shared.lock_quietly();
            if core.options.webhooks.url.is_some() {
                let jobs = core.take_webhooks(now);
                let hold_for = core.options.webhooks.retry_delay(1).unwrap_or_default();
                (jobs, core.world.next_due(), hold_for)
            } else {
                (Vec::new(), None, Duration::ZERO)
            }
        };
        shared.notify_changed();
        for job in jobs {
            deliverer.send(job, now + hold_for);
        }
        deliverer.release_overdue(now);
        let wake_at = [next_due, deliverer.held.iter().map(|(_, until)| *until).min()]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(now + IDLE);
        tokio::select! {
            () = shared.wake.notified() => {}
            () = tokio::time::sleep_until(wake_at.into()) => {}
            Some(_) = deliverer.tasks.join_next(), if !deliverer.tasks.is_empty() => {}
        }
    }
}

/// The deliveries under way, and the late webhooks waiting for another to go first.
struct Deliverer {
    /// Made with the first webhook: most sandboxes never send one.
    client: Option<reqwest::Client>,
    shared: Arc<Shared>,
    tasks: JoinSet<()>,
    /// Hears when the first attempt of the delivery started last has ended: the next one's
    /// first attempt waits for it.
    tail: Option<oneshot::Receiver<()>>,
    /// Late webhooks waiting for the next one to be sent, each until a deadline.
    held: Vec<(Job, Instant)>,
}

impl Deliverer {
    /// Starts a job's delivery, or holds it back if it is late: it then goes right after the
    /// next webhook, or at `hold_until` if none comes.
    fn send(&mut self, job: Job, hold_until: Instant) {
        if job.late {
            self.held.push((job, hold_until));
            return;
        }
        self.start(job);
        for (late, _) in std::mem::take(&mut self.held) {
            self.start(late);
        }
    }

    /// Starts a delivery whose first attempt follows the first attempt of the one before.
    fn start(&mut self, job: Job) {
        let client = self
            .client
            .get_or_insert_with(|| {
                reqwest::Client::builder()
                    // A redirect is an answer other than 2xx, retried as Linq retries it.
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .expect("the TLS backend and resolver start")
            })
            .clone();
        let shared = self.shared.clone();
        let after = self.tail.take();
        let (first_done, tail) = oneshot::channel();
        self.tail = Some(tail);
        self.tasks.spawn(async move {
            if let Some(after) = after {
                // An error means that delivery is gone (the sandbox stops): go on all the same.
                let _ = after.await;
            }
            let fate = attempts(&client, &shared, &job, false, Some(first_done)).await;
            if fate == Fate::Delivered && job.duplicate {
                // The duplicate's own outcome does not undo the delivery before it.
                attempts(&client, &shared, &job, true, None).await;
            }
            shared.lock_quietly().webhooks.settle(job.index, fate);
            shared.notify_changed();
        });
    }

    /// Late webhooks whose deadline passed with no other webhook to follow go now.
    fn release_overdue(&mut self, now: Instant) {
        let (overdue, kept) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|(_, until)| *until <= now);
        self.held = kept;
        for (job, _) in overdue {
            self.start(job);
        }
    }
}

/// Delivers a webhook once: up to [`MAX_ATTEMPTS`] attempts with the subscription's retry
/// delays between them, until one settles it. `first_done` hears when the first attempt ended.
async fn attempts(
    client: &reqwest::Client,
    shared: &Shared,
    job: &Job,
    duplicate: bool,
    mut first_done: Option<oneshot::Sender<()>>,
) -> Fate {
    for attempt in 1..=MAX_ATTEMPTS {
        let options = shared.lock_quietly().options.webhooks.clone();
        let Some(url) = options.url.clone() else {
            // No URL any more: nothing to deliver to, and nothing to wait for.
            return Fate::Failed;
        };
        let timestamp = unix_seconds(SystemTime::now(), options.timestamp_offset);
        let signature = sign(&options.secret, &timestamp, &job.webhook.body);
        let answer = client
            .post(url)
            .timeout(options.timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Webhook-Event", job.webhook.event_type)
            .header("X-Webhook-Subscription-ID", &options.subscription_id)
            .header("X-Webhook-Timestamp", &timestamp)
            .header("X-Webhook-Signature", signature)
            .body(job.webhook.body.clone())
            .send()
            .await;
        let (status, error) = match answer {
            Ok(response) => (Some(response.status().as_u16()), None),
            Err(error) if error.is_timeout() => (None, Some("timed out".to_owned())),
            Err(error) => (None, Some(error.without_url().to_string())),
        };
        {
            let mut core = shared.lock_quietly();
            let at = core.world.since_start(Instant::now());
            core.webhooks.attempted(Delivery {
                event_id: job.webhook.event_id.clone(),
                event_type: job.webhook.event_type.to_owned(),
                chat_id: job.webhook.chat_id.clone(),
                attempt,
                duplicate,
                status,
                error,
                at,
            });
        }
        shared.notify_changed();
        if let Some(first_done) = first_done.take() {
            // The next delivery may be gone with the sandbox; nobody to tell then.
            let _ = first_done.send(());
        }
        if let Some(fate) = settles(status) {
            return fate;
        }
        match options.retry_delay(attempt) {
            Some(delay) => tokio::time::sleep(delay).await,
            None => break,
        }
    }
    Fate::Failed
}
