//! Knowing roster talks to Linq, with a token Linq takes, before it trusts any answer about a
//! chat: a wrong base URL answers `404` to every read, which would otherwise say that every
//! chat is gone.

use super::{unless_stopped, Error, Stage};
use crate::linq::{Client, LinqError, PhoneNumber};
use crate::stop::Stop;

/// Asks Linq for the partner's lines (`GET /v3/phone_numbers`, which every partner has), once
/// for a client ([`Client::lines`]): every workflow asks before its first read of a chat. Fails when the base URL does not answer as Linq
/// does ([`Error::NotLinq`], [`Error::Unreachable`]) or Linq refuses the token
/// ([`Error::TokenRefused`]); nothing is read or written then.
pub async fn confirm<'a>(client: &'a Client, stop: &Stop) -> Result<&'a [PhoneNumber], Error> {
    let answer = unless_stopped(stop, Stage::Reading, client.lines()).await?;
    answer.map_err(|error| refusal(client.base_url(), error))
}

/// What a failed `GET /v3/phone_numbers` says about the address and the token.
fn refusal(url: String, error: LinqError) -> Error {
    if error.is_unauthorized() {
        return Error::TokenRefused(error);
    }
    let unreachable = matches!(error, LinqError::Transport(_));
    // Linq's own error answer, other than "not found": the address is Linq's.
    let answered = matches!(&error, LinqError::Api(api) if api.status != 404 && api.code.is_some());
    let error = Box::new(error);
    if unreachable {
        Error::Unreachable { url, error }
    } else if answered {
        Error::Unconfirmed { url, error }
    } else {
        Error::NotLinq { url, error }
    }
}
