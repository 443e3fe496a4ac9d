//! Alert e-mails through the configured SMTP server (`[smtp]`), with **lettre** (tokio,
//! rustls): one plain-text message per alert, to `smtp.to` or else the portal's owner and
//! admins. A message that cannot be built or sent is logged, never fatal; the SMTP password
//! reaches lettre's credentials only and is in no log line or error text.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{Config, SmtpConfig, SmtpTls};

/// One e-mail: its subject and text.
#[derive(Debug, Clone)]
pub struct Mail {
    pub subject: String,
    pub text: String,
}

/// Why an e-mail was not sent (texts carry no credential).
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("bad address {0:?}")]
    Address(String),
    #[error("no recipient: smtp.to is empty and the portal has no owner or admin address")]
    NoRecipient,
    #[error("{0}")]
    Build(String),
    #[error("the SMTP server: {0}")]
    Send(String),
}

fn mailbox(text: &str) -> Result<Mailbox, MailError> {
    text.trim()
        .parse()
        .map_err(|_| MailError::Address(text.to_string()))
}

/// The transport for `smtp`: TLS, STARTTLS (required) or plain, with credentials when a user
/// is set.
fn transport(smtp: &SmtpConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailError> {
    let host = smtp.host.trim();
    let builder = match smtp.tls {
        SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host),
        SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host),
        SmtpTls::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
            host,
        )),
    }
    .map_err(|e| MailError::Build(e.to_string()))?;
    let mut builder = builder
        .port(smtp.port())
        .timeout(Some(Duration::from_secs(30)));
    if !smtp.user.is_empty() {
        builder = builder.credentials(Credentials::new(smtp.user.clone(), smtp.password.0.clone()));
    }
    Ok(builder.build())
}

/// Sends `mail` to `smtp.to`, or to `fallback` (the portal's owner and admins) when that is
/// empty.
///
/// Fails when an address does not parse, nobody is to receive it, or the server refuses it.
pub async fn send(config: &Config, fallback: &[String], mail: &Mail) -> Result<(), MailError> {
    let smtp = &config.smtp;
    let from = if smtp.from.trim().is_empty() {
        format!("dsbackup@{}", config.node_id)
    } else {
        smtp.from.clone()
    };
    let to = if smtp.to.is_empty() {
        fallback
    } else {
        &smtp.to
    };
    if to.is_empty() {
        return Err(MailError::NoRecipient);
    }
    let mut message = Message::builder()
        .from(mailbox(&from)?)
        .subject(mail.subject.clone());
    for addr in to {
        message = message.to(mailbox(addr)?);
    }
    let message = message
        .header(ContentType::TEXT_PLAIN)
        .body(mail.text.clone())
        .map_err(|e| MailError::Build(e.to_string()))?;
    transport(smtp)?
        .send(message)
        .await
        .map(|_| ())
        .map_err(|e| {
            // A server may echo what it was sent; the password never leaves in a text.
            let mut text = e.to_string();
            if !smtp.password.0.is_empty() {
                text = text.replace(&smtp.password.0, "********");
            }
            MailError::Send(text)
        })
}
