//! End-to-end tests: the real bosun against a fake GitHub on loopback.

mod support;

mod access;
mod applies;
mod apply_lock;
mod atlantis_grammar;
mod atlantis_workflows;
mod bad_input;
mod binary;
mod crashes;
mod drift;
mod durability;
mod github_client;
mod github_faults;
mod github_issues;
mod host_integrity;
mod malicious;
mod missed_webhooks;
mod named_projects;
mod plans;
mod postgres;
mod preview_cli;
mod redelivery;
mod repo_config;
mod repo_keys;
mod repo_powers;
mod reviewed;
mod sandbox;
mod secrets;
mod serve_cli;
mod state_commands;
mod step_options;
mod summary_checks;
mod webhooks;
mod workflows;
mod workspace;
