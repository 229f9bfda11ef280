//! The journal of a run: every record durable before the call it announces goes out, written by
//! one task that batches what concurrent chats send meanwhile into one write and one sync.

use std::sync::Mutex;

use tokio::sync::{mpsc, oneshot};

use crate::state::{JournalRecord, StateStore};

type Request = (JournalRecord, oneshot::Sender<Result<(), String>>);

/// The chats' end of the journal; [`write`] is the other.
pub(super) struct Recorder {
    sender: mpsc::UnboundedSender<Request>,
    /// Every record of this run, durable or not: what roster knows happened.
    records: Mutex<Vec<JournalRecord>>,
}

impl Recorder {
    /// A recorder, and the receiver [`write`] takes. The writer ends when the recorder is
    /// dropped.
    pub fn new() -> (Recorder, mpsc::UnboundedReceiver<Request>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let recorder = Recorder {
            sender,
            records: Mutex::new(Vec::new()),
        };
        (recorder, receiver)
    }

    /// Journals `record`; returns once it is durable.
    pub async fn append(&self, record: JournalRecord) -> Result<(), String> {
        self.note(record.clone());
        let (reply, answer) = oneshot::channel();
        self.sender
            .send((record, reply))
            .map_err(|_| "the journal writer stopped".to_owned())?;
        answer.await.map_err(|_| "the journal writer stopped".to_owned())?
    }

    /// Records an outcome in memory only (the journal cannot be written).
    pub fn note(&self, record: JournalRecord) {
        self.records.lock().unwrap_or_else(|p| p.into_inner()).push(record);
    }

    /// Every record of the run, in the order they were made.
    pub fn into_records(self) -> Vec<JournalRecord> {
        self.records.into_inner().unwrap_or_else(|p| p.into_inner())
    }
}

/// Appends journal records as chats send them, batching whatever arrived meanwhile into one
/// write and one sync, so concurrent chats do not queue up behind each other's fsync.
pub(super) async fn write(store: &dyn StateStore, mut receiver: mpsc::UnboundedReceiver<Request>) {
    while let Some(first) = receiver.recv().await {
        let mut batch = vec![first];
        while let Ok(more) = receiver.try_recv() {
            batch.push(more);
        }
        let records: Vec<JournalRecord> = batch.iter().map(|(record, _)| record.clone()).collect();
        let result = blocking(|| store.append_journal(&records)).map_err(|e| format!("{e:#}"));
        for (_, reply) in batch {
            let _ = reply.send(result.clone());
        }
    }
}

/// Runs a blocking write without stalling the runtime's other tasks where the runtime allows.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if multi_thread {
        tokio::task::block_in_place(f)
    } else {
        f()
    }
}
