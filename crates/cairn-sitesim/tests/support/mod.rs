#![allow(dead_code)]

use cairn_sitesim::{Access, Scale, Sim, SimConfig, SimHandle, SiteSpec};
use serde_json::Value;

pub struct T {
    pub sim: SimHandle,
    pub http: reqwest::Client,
}

pub async fn start(scale: Scale, sites: Vec<SiteSpec>) -> T {
    let sim = Sim::start(SimConfig {
        seed: 7,
        scale,
        sites,
        ..Default::default()
    })
    .await
    .expect("start sim");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    T { sim, http }
}

impl T {
    pub fn url(&self, site: &str, path: &str) -> String {
        format!("{}{}", self.sim.base_url(site), path)
    }
    pub fn auth(&self, rb: reqwest::RequestBuilder, access: Access) -> reqwest::RequestBuilder {
        let a = self.sim.account(access);
        rb.basic_auth(&a.email, Some(&a.api_token))
    }
    pub async fn get(&self, site: &str, path: &str) -> (u16, reqwest::header::HeaderMap, Value) {
        let r = self
            .auth(self.http.get(self.url(site, path)), Access::ReadWrite)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let h = r.headers().clone();
        let b = r.bytes().await.unwrap();
        (status, h, serde_json::from_slice(&b).unwrap_or(Value::Null))
    }
    pub async fn send(
        &self,
        site: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut rb = self.auth(
            self.http.request(method, self.url(site, path)),
            Access::ReadWrite,
        );
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        let b = r.bytes().await.unwrap();
        (status, serde_json::from_slice(&b).unwrap_or(Value::Null))
    }
}

impl T {
    /// A multipart upload with field `file`, as Atlassian's upload operations take it.
    pub async fn upload(
        &self,
        site: &str,
        path: &str,
        filename: &str,
        bytes: Vec<u8>,
        xsrf: bool,
    ) -> (u16, Value) {
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(filename.to_string())
            .mime_str("application/octet-stream")
            .unwrap();
        let form = reqwest::multipart::Form::new().part("file", part);
        let mut rb = self
            .auth(self.http.post(self.url(site, path)), Access::ReadWrite)
            .multipart(form);
        if xsrf {
            rb = rb.header("X-Atlassian-Token", "no-check");
        }
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        let b = r.bytes().await.unwrap();
        (status, serde_json::from_slice(&b).unwrap_or(Value::Null))
    }
}
