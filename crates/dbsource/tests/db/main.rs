//! Integration tests against the real PostgreSQL (127.0.0.1:5432, user postgres) and MariaDB
//! (127.0.0.1:3306, root) servers of this machine and real SQLite files. Each test makes its own
//! uniquely named database and drops it. A server that does not answer skips its tests, unless
//! `CI` is set: then they fail.

mod flows;
mod lite;
mod my;
mod pg;
mod support;
