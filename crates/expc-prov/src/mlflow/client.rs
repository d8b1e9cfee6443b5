//! A small client of MLflow's REST API (`/api/2.0/mlflow/…`): JSON requests over plain
//! HTTP, and errors that say which request the server refused and why.

use std::time::Duration;

use serde_json::{Value as Json, json};

use crate::store::{Error, Result};

/// A tracking server.
pub struct Client {
    agent: ureq::Agent,
    base: String,
}

/// What the server answered when it refused a request: its error code and message.
pub struct Refused {
    pub code: String,
    pub message: String,
}

impl Client {
    /// A client of the server at `url` (`http://127.0.0.1:5000`).
    pub fn new(url: &str) -> Result<Client> {
        let base = url.trim_end_matches('/').to_owned();
        if !base.starts_with("http://") || base.len() <= "http://".len() {
            return Err(Error(format!(
                "`{url}` is not an MLflow tracking server's URL: write `http://HOST:PORT` (plain HTTP)"
            )));
        }
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .new_agent();
        Ok(Client { agent, base })
    }

    /// `POST /api/2.0/mlflow/PATH` with a JSON body: the answer, or what the server said
    /// when it refused (`Ok(Err(…))`); an error when it could not be asked at all.
    pub fn post(&self, path: &str, body: &Json) -> Result<std::result::Result<Json, Refused>> {
        let url = format!("{}/api/2.0/mlflow/{path}", self.base);
        let sent = self
            .agent
            .post(&url)
            .header("Content-Type", "application/json")
            .send(body.to_string());
        self.answer(path, sent)
    }

    /// `GET /api/2.0/mlflow/PATH?QUERY`.
    pub fn get(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<std::result::Result<Json, Refused>> {
        let url = format!("{}/api/2.0/mlflow/{path}", self.base);
        let mut request = self.agent.get(&url);
        for (k, v) in query {
            request = request.query(*k, *v);
        }
        self.answer(path, request.call())
    }

    fn answer(
        &self,
        path: &str,
        sent: std::result::Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<std::result::Result<Json, Refused>> {
        let mut response = sent.map_err(|e| {
            Error(format!(
                "cannot reach the MLflow tracking server at {}: {e}. Is `mlflow server` running there?",
                self.base
            ))
        })?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| Error(format!("MLflow at {}: `{path}`: {e}", self.base)))?;
        let body: Json = serde_json::from_str(&text).unwrap_or_else(|_| json!({ "message": text }));
        if (200..300).contains(&status) {
            return Ok(Ok(body));
        }
        Ok(Err(Refused {
            code: body["error_code"].as_str().unwrap_or("").to_owned(),
            message: body["message"].as_str().map_or_else(
                || format!("HTTP {status}"),
                |m| format!("{m} (HTTP {status})"),
            ),
        }))
    }

    /// As [`Client::post`], with a refusal as an error naming the request.
    pub fn must_post(&self, path: &str, body: &Json) -> Result<Json> {
        self.post(path, body)?.map_err(|r| self.refused(path, &r))
    }

    /// As [`Client::get`], with a refusal as an error naming the request.
    pub fn must_get(&self, path: &str, query: &[(&str, &str)]) -> Result<Json> {
        self.get(path, query)?.map_err(|r| self.refused(path, &r))
    }

    pub fn refused(&self, path: &str, r: &Refused) -> Error {
        Error(format!(
            "the MLflow tracking server at {} refused `{path}`: {}{}. Nothing of this request was kept; pushing again completes what is missing",
            self.base,
            if r.code.is_empty() {
                String::new()
            } else {
                format!("{}: ", r.code)
            },
            r.message
        ))
    }
}
