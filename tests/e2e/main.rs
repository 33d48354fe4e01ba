//! End-to-end tests: the real bosun against a fake GitHub on loopback.

mod support;

mod applies;
mod bad_input;
mod durability;
mod github_client;
mod plans;
mod preview_cli;
mod redelivery;
mod repo_powers;
mod serve_cli;
mod webhooks;
mod workspace;
