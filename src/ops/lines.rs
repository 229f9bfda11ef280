//! Refusing a create whose `from` is not one of the partner's lines, before any call that
//! changes anything: Linq would refuse it (`403`), but only after the run had begun its work.

use super::confirm::confirm;
use super::Error;
use crate::config::ChatProblem;
use crate::escape::{code_list, Escaped};
use crate::handle::Handle;
use crate::linq::Client;
use crate::stop::Stop;

/// The creates among `creates` (key, `from`) whose line is not one of the partner's
/// (`GET /v3/phone_numbers`, read once a client through [`confirm`]), each as a problem at its
/// `create` for [`crate::config::Desired::locate`]; empty when every line is the partner's.
pub async fn foreign_lines<'a>(
    client: &Client,
    stop: &Stop,
    creates: impl IntoIterator<Item = (&'a str, &'a Handle)>,
) -> Result<Vec<ChatProblem>, Error> {
    let mut creates = creates.into_iter().peekable();
    if creates.peek().is_none() {
        return Ok(Vec::new());
    }
    let lines = confirm(client, stop).await?;
    let ours = |from: &Handle| {
        lines
            .iter()
            .any(|line| Handle::parse(&line.phone_number).is_ok_and(|line| &line == from))
    };
    let numbers: Vec<Escaped<'_>> = lines.iter().map(|line| Escaped(&line.phone_number)).collect();
    Ok(creates
        .filter(|(_, from)| !ours(from))
        .map(|(key, from)| ChatProblem {
            key: key.to_owned(),
            field: Some("create"),
            message: format!(
                "chat `{key}` is to be created from `{from}`, which is not one of your Linq lines ({}); nothing was sent; set `create.from` to one of them",
                code_list(&numbers)
            ),
        })
        .collect())
}
