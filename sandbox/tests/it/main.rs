//! End-to-end tests of the sandbox over real HTTP on loopback: Linq's rules and error codes,
//! landing, violations, pagination, faults, the control API and the binary.

mod control;
mod create;
mod faults;
mod helpers;
mod landing;
mod listing;
mod rules;
mod schema;
mod tamper;
mod update;
mod webhooks;
