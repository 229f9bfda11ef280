//! Reading many chats at once, each read an answer about its chat.

use std::collections::BTreeMap;

use futures_util::stream::{self, StreamExt};

use super::DriftStatus;
use crate::linq::{Chat, Client, LinqError};

/// Linq's code for "this chat is unavailable": reported, and the chat kept as the state has it.
const CODE_CHAT_UNAVAILABLE: i64 = 2013;

/// One chat as a read found it.
pub enum Read {
    Live(Chat),
    /// Linq would not show the chat (404, or 409 code 2013): reported, the chat left alone.
    Missing(DriftStatus, LinqError),
}

/// A read that failed otherwise than with an answer about its chat: it stops the reads.
#[derive(Debug)]
pub struct Unread {
    pub chat: String,
    pub error: LinqError,
}

/// Reads the chats `ids`, at most `parallelism` at once (the client retries on its own), telling
/// `on_read` after each. A 404 or a 409 2013 is an answer about the chat; any other failure
/// stops the reads, and is returned.
pub async fn read_chats(
    client: &Client,
    ids: Vec<String>,
    parallelism: usize,
    on_read: &mut dyn FnMut(),
) -> Result<BTreeMap<String, Read>, Unread> {
    let mut reads = stream::iter(ids)
        .map(|id| async move {
            let result = client.get_chat(&id).await;
            (id, result)
        })
        .buffer_unordered(parallelism.max(1));
    let mut found = BTreeMap::new();
    while let Some((id, result)) = reads.next().await {
        on_read();
        let read = match result {
            Ok(chat) => Read::Live(chat),
            Err(error) if error.status() == Some(404) => Read::Missing(DriftStatus::Gone, error),
            Err(error) if error.code() == Some(CODE_CHAT_UNAVAILABLE) => Read::Missing(DriftStatus::Unavailable, error),
            Err(error) => return Err(Unread { chat: id, error }),
        };
        found.insert(id, read);
    }
    Ok(found)
}
