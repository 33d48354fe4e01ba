//! bosun: a GitHub App that automates Terraform and OpenTofu on pull requests.
//!
//! Data flows one way: HTTP (`server`) → stored delivery (`ingest`, `store`) → typed event
//! (`github::webhook` → `event`) → `dispatch` (jobs, in later issues) → GitHub feedback.

pub mod access;
pub mod app;
pub mod apply;
pub mod audit;
pub mod command;
pub mod config;
pub mod dispatch;
pub mod drift;
pub mod drift_sweep;
pub mod event;
pub mod github;
pub mod ids;
pub mod ingest;
pub mod jobs;
pub mod lease;
pub mod lock_watch;
pub mod metrics;
pub mod names;
pub mod notify;
pub mod plan;
pub mod policy;
pub mod preview;
pub mod projects;
pub mod reconcile;
pub mod redact;
pub mod redelivery;
pub mod render;
pub mod run_log;
pub mod schedule;
pub mod server;
pub mod server_rules;
pub mod setup;
pub mod store;
pub mod task_worker;
pub mod telemetry;
pub mod terraform;
pub mod versions;
pub mod web;
pub mod worker;
pub mod workflow;
pub mod workspace;
