//! The origin's admin API through `herdgate_client::AdminClient`, with every refusal typed:
//! [`Error::Refused`] carries the server's code and sentence.

use std::time::Duration;

use herdgate_client::{AdminClient, Reply};
use herdgate_core::wire::{
    AdminSaleState, ControlRequest, EdgeCounts, SaleConfig, SaleList, Timeline,
};
use herdgate_core::SaleId;
use serde_json::Value;

/// What can go wrong talking to the admin API.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server refused, with its machine-readable code and its sentence for people.
    #[error("{message} ({code}, HTTP {status})")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The refusal's code, as the server spells it (`unknown_sale`, `unauthorized`, …).
        code: String,
        /// The server's sentence.
        message: String,
    },
    /// The server could not be reached, or did not answer in time.
    #[error("{0}")]
    Unreachable(String),
    /// The server answered something that is not the admin API's.
    #[error("the admin API answered HTTP {status} with something that is not its JSON")]
    Unexpected {
        /// The HTTP status.
        status: u16,
    },
}

/// How long one admin request may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// A client of one origin's admin API.
pub struct Admin {
    client: AdminClient,
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Admin {
    /// A client of the admin API at `base` (the origin's URL), with the admin bearer `token`.
    pub fn new(base: &str, token: &str) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .user_agent(concat!("herdgate-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Unreachable(e.to_string()))?;
        let base = base.trim_end_matches('/').to_owned();
        Ok(Admin {
            client: AdminClient::new(http.clone(), &base, token),
            http,
            base,
            token: token.to_owned(),
        })
    }

    /// `GET /admin/v1/sales/{sale}`: the sale's settings and state.
    pub async fn sale(&self, sale: &SaleId) -> Result<AdminSaleState, Error> {
        let (status, body) = answer(self.client.sale_reply(sale.as_str()).await)?;
        serde_json::from_value(body).map_err(|_| Error::Unexpected { status })
    }

    /// `GET /admin/v1/sales`: every sale, by id.
    pub async fn sales(&self) -> Result<SaleList, Error> {
        let (status, body) = answer(self.client.sales_reply().await)?;
        serde_json::from_value(body).map_err(|_| Error::Unexpected { status })
    }

    /// `PUT /admin/v1/sales/{sale}`: creates or updates the sale; the origin's answer.
    pub async fn put_sale(&self, sale: &SaleId, config: &SaleConfig) -> Result<Value, Error> {
        let body = serde_json::to_value(config).map_err(|_| Error::Unexpected { status: 0 })?;
        answer(self.client.put_sale_reply(sale.as_str(), &body).await).map(|(_, v)| v)
    }

    /// `POST /admin/v1/sales/{sale}/control`: pause, resume or a new rate; the answer.
    pub async fn control(&self, sale: &SaleId, request: &ControlRequest) -> Result<Value, Error> {
        let body = serde_json::to_value(request).map_err(|_| Error::Unexpected { status: 0 })?;
        answer(self.client.control_reply(sale.as_str(), &body).await).map(|(_, v)| v)
    }

    /// `POST /admin/v1/sales/{sale}/audit` with `request`: the report as JSON.
    pub async fn audit(&self, sale: &SaleId, request: &Value) -> Result<Value, Error> {
        answer(self.client.audit_reply(sale.as_str(), request).await).map(|(_, v)| v)
    }

    /// `GET /admin/v1/sales/{sale}/counters` at the edge `edge`: what it counted.
    pub async fn counters(&self, edge: &str, sale: &SaleId) -> Result<EdgeCounts, Error> {
        let url = format!(
            "{}/admin/v1/sales/{sale}/counters",
            edge.trim_end_matches('/')
        );
        self.get_json(url, "counters").await
    }

    /// `GET url` with the admin token: its JSON as `T`, or the refusal it is.
    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: String,
        what: &str,
    ) -> Result<T, Error> {
        let no_answer = |e: reqwest::Error| Error::Unreachable(format!("{what}: {e}"));
        let response = self
            .http
            .get(url)
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(no_answer)?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(no_answer)?;
        let body = serde_json::from_str(&text).map_err(|_| Error::Unexpected { status })?;
        let (status, body) = answer(Ok((status, body)))?;
        serde_json::from_value(body).map_err(|_| Error::Unexpected { status })
    }

    /// `GET /admin/v1/sales/{sale}/timeline`: every sample the origin recorded, oldest
    /// first, page by page.
    pub async fn timeline(&self, sale: &SaleId) -> Result<Timeline, Error> {
        let mut from_ms = 0u64;
        let mut all: Option<Timeline> = None;
        loop {
            let url = format!(
                "{}/admin/v1/sales/{sale}/timeline?from_ms={from_ms}",
                self.base
            );
            let page: Timeline = self.get_json(url, "timeline").await?;
            let next = page.samples.last().map(|s| s.at_ms + 1);
            let more = page.truncated;
            match &mut all {
                Some(t) => t.samples.extend(page.samples),
                None => all = Some(page),
            }
            match (more, next) {
                (true, Some(next)) if next > from_ms => from_ms = next,
                _ => break,
            }
        }
        let mut all = all.ok_or(Error::Unexpected { status: 200 })?;
        all.truncated = false;
        Ok(all)
    }

    /// The audit's report as the origin writes it for people (`?format=text`).
    pub async fn audit_text(&self, sale: &SaleId, request: &Value) -> Result<String, Error> {
        let url = format!("{}/admin/v1/sales/{sale}/audit?format=text", self.base);
        let no_answer = |e: reqwest::Error| Error::Unreachable(format!("audit: {e}"));
        let response = self
            .http
            .post(url)
            .bearer_auth(&self.token)
            .json(request)
            .send()
            .await
            .map_err(no_answer)?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(no_answer)?;
        if (200..300).contains(&status) {
            return Ok(text);
        }
        let body = serde_json::from_str(&text).map_err(|_| Error::Unexpected { status })?;
        answer(Ok((status, body))).map(|_| text)
    }
}

/// A 2xx answer's status and body, or the refusal it is.
fn answer(reply: anyhow::Result<Reply>) -> Result<(u16, Value), Error> {
    let (status, body) = reply.map_err(|e| Error::Unreachable(format!("{e:#}")))?;
    if (200..300).contains(&status) {
        return Ok((status, body));
    }
    // Read as text, not as `ErrorCode`: a code this build does not know (a newer origin's)
    // still comes through with its sentence.
    let error = &body["error"];
    match (error["code"].as_str(), error["message"].as_str()) {
        (Some(code), Some(message)) => Err(Error::Refused {
            status,
            code: code.to_owned(),
            message: message.to_owned(),
        }),
        _ => Err(Error::Unexpected { status }),
    }
}
