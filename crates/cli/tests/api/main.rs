//! Integration tests: the real server process, real HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod abuse;
mod access;
mod auth;
mod backup;
mod backup_errors;
mod bad_input;
mod cli;
mod databases;
mod encryption;
mod golden;
mod harness;
mod hygiene;
mod keys;
mod logs;
mod portal;
mod remote;
mod remote_failures;
mod restore;
mod rooms;
mod schedule;
mod secrets;
mod servers;
mod service;
mod thirdparty;
mod trust;
