//! `[smtp]`: the mail server alerts are sent through (`notify/mail.rs`). Unset `host` means no
//! e-mail; the password is a [`Secret`] and never printed.

use serde::Deserialize;

use super::Secret;

/// How the connection to the mail server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS, which must succeed (the default; port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS; port 465).
    Tls,
    /// No encryption at all: a relay on this host or a test server only.
    None,
}

/// The SMTP server alerts go through.
#[derive(Debug, Clone, Deserialize, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    /// The server's host name (checked against its certificate); empty disables e-mail.
    pub host: String,
    /// 0 means the usual port of `tls`: 587 (STARTTLS), 465 (TLS) or 25 (none).
    pub port: u16,
    /// The sender, `dsbackup@example.com` or `dsbackup <dsbackup@example.com>`; empty means
    /// `dsbackup@<node_id>`.
    pub from: String,
    /// Who receives alerts; empty means the portal's owner and DocSpace admins.
    pub to: Vec<String>,
    /// The login, when the server asks for one.
    pub user: String,
    pub password: Secret,
    pub tls: SmtpTls,
}

impl SmtpConfig {
    /// Whether e-mail is configured.
    pub fn enabled(&self) -> bool {
        !self.host.trim().is_empty()
    }

    /// The port in effect.
    pub fn port(&self) -> u16 {
        match (self.port, self.tls) {
            (0, SmtpTls::Starttls) => 587,
            (0, SmtpTls::Tls) => 465,
            (0, SmtpTls::None) => 25,
            (p, _) => p,
        }
    }
}
