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
