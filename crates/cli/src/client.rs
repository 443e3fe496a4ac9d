//! A small DocSpace API client for the CLI: sends the key as DocSpace clients do and unwraps
//! the envelope, turning error envelopes into readable errors.

use anyhow::{Context, anyhow, bail};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Where the server is and how to authenticate.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    url: String,
    key: String,
}

impl Client {
    pub fn new(url: &str, key: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            url: url.trim_end_matches('/').to_string(),
            key: key.to_string(),
        }
    }

    /// Calls `path` and returns the envelope's `response` (`None` when it was left out).
    ///
    /// Fails with the server's error message and status, or when the server cannot be reached.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Option<T>> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.url))
            .header("Authorization", &self.key)
            .header("Accept", "application/json");
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.url))?;
        let status = res.status();
        let text = res.text().await.context("reading the answer")?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|_| anyhow!("{method} {path}: HTTP {status}: not a JSON answer"))?;
        if !status.is_success() {
            let msg = v["error"]["message"].as_str().unwrap_or("(no message)");
            bail!("{msg} (HTTP {})", status.as_u16());
        }
        match v.get("response") {
            None | Some(Value::Null) => Ok(None),
            Some(r) => Ok(Some(
                serde_json::from_value(r.clone())
                    .with_context(|| format!("{path}: unexpected answer shape"))?,
            )),
        }
    }
}

/// The pause between two progress polls, `elapsed` after the job started: a fortieth of it,
/// between 10 and 250 ms. A fixed 100 ms added 50 ms on average to every wait for a job that
/// had ended (5 % of a one-second unchanged backup), and polled a long job more than needed;
/// this way the wait adds at most 2.5 % to the job's time, plus the 10 ms floor.
pub fn poll_pause(elapsed: std::time::Duration) -> std::time::Duration {
    (elapsed / 40).clamp(
        std::time::Duration::from_millis(10),
        std::time::Duration::from_millis(250),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn polls_are_frequent_for_a_short_job_and_sparse_for_a_long_one() {
        let ms = |m| Duration::from_millis(m);
        assert_eq!(poll_pause(ms(0)), ms(10));
        assert_eq!(poll_pause(ms(1_000)), ms(25));
        assert_eq!(poll_pause(ms(4_000)), ms(100));
        assert_eq!(poll_pause(Duration::from_secs(3_600)), ms(250));
    }
}
