//! The HTTP transport an operator sends its requests through: OpenDAL's reqwest transport, with
//! host names resolved as the caller says (tests reach virtual-host buckets on 127.0.0.1) and
//! native OBS requests addressed to the endpoint's real host and port.
//!
//! OpenDAL 0.59's OBS service builds every URL from the endpoint's host alone, so a port is
//! dropped, and it takes any host that is not `obs.*.myhuaweicloud.com` for a custom domain bound
//! to the bucket (no bucket in the host, `/host/key` as the signed resource). tern names OBS
//! regions by endpoint, like OBS's own SDKs, which address every bucket as `bucket.endpoint`.
//! So OpenDAL is given a stand-in endpoint of the default shape ([`OBS_STAND_IN_HOST`]) and this
//! transport rewrites `bucket.stand-in` into `bucket.host:port` before the request leaves. The OBS
//! signature (`StringToSign`: verb, Content-MD5, Content-Type, Date, `x-obs-*` headers, `/bucket/key`)
//! covers no host, so the rewrite keeps it valid; reqwest sends the `Host` the URL names.

use std::net::SocketAddr;

use http::uri::{Authority, Uri};
use http::{Request, Response};
use opendal::{Buffer, HttpBody, HttpTransport, HttpTransporter, OperationContext};
use opendal_http_transport_reqwest::ReqwestTransport;

use crate::error::{Error, Result};

/// The OBS endpoint host OpenDAL is given; requests to `bucket.` this host are re-addressed.
pub(crate) const OBS_STAND_IN_HOST: &str = "obs.tern-endpoint.myhuaweicloud.com";

/// Host names answered from this list instead of DNS, as `reqwest::ClientBuilder::resolve`
/// does (the port of each address is ignored; the URL's port is used).
pub type ResolveOverrides = [(String, SocketAddr)];

/// Re-addresses OBS requests from the stand-in host to the endpoint's real authority.
#[derive(Clone, Debug)]
pub(crate) struct ObsAddressing {
    /// `bucket.` + [`OBS_STAND_IN_HOST`].
    stand_in: String,
    /// `bucket.host[:port]` of the real endpoint.
    authority: Authority,
}

impl ObsAddressing {
    /// The addressing of `bucket` at `endpoint` (`scheme://host[:port]`).
    pub(crate) fn new(bucket: &str, endpoint: &str) -> Result<ObsAddressing> {
        let uri: Uri = endpoint
            .parse()
            .map_err(|_| Error::invalid("endpoint", format!("{endpoint} is not a URL")))?;
        let host = uri
            .host()
            .filter(|host| !host.is_empty())
            .ok_or_else(|| Error::invalid("endpoint", format!("{endpoint} names no host")))?;
        // An endpoint that already starts with the bucket is taken as the bucket's host.
        let host = host.strip_prefix(&format!("{bucket}.")).unwrap_or(host);
        let authority = match uri.port_u16() {
            Some(port) => format!("{bucket}.{host}:{port}"),
            None => format!("{bucket}.{host}"),
        };
        let authority = authority.parse().map_err(|_| {
            Error::invalid(
                "bucket",
                format!("{bucket}.{host} is not a valid host name for a virtual-host bucket"),
            )
        })?;
        Ok(ObsAddressing {
            stand_in: format!("{bucket}.{OBS_STAND_IN_HOST}"),
            authority,
        })
    }

    /// The endpoint to give OpenDAL's OBS service, with the real endpoint's scheme.
    pub(crate) fn stand_in_endpoint(endpoint: &str) -> String {
        let scheme = if endpoint.starts_with("http://") {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{OBS_STAND_IN_HOST}")
    }

    /// `uri` with the stand-in host replaced by the real authority; other URIs unchanged.
    fn readdress(&self, uri: &Uri) -> Uri {
        if uri.host() != Some(self.stand_in.as_str()) {
            return uri.clone();
        }
        let mut parts = uri.clone().into_parts();
        parts.authority = Some(self.authority.clone());
        Uri::from_parts(parts).unwrap_or_else(|_| uri.clone())
    }
}

/// The transport of one operator.
struct Transport {
    inner: HttpTransporter,
    obs: Option<ObsAddressing>,
}

impl HttpTransport for Transport {
    async fn fetch(&self, mut req: Request<Buffer>) -> opendal::Result<Response<HttpBody>> {
        if let Some(obs) = &self.obs {
            *req.uri_mut() = obs.readdress(req.uri());
        }
        self.inner.fetch(req).await
    }
}

/// The operation context for an operator: `None` when the process-wide default transport does
/// (no overrides, no OBS addressing).
pub(crate) fn context(
    resolve: &ResolveOverrides,
    obs: Option<ObsAddressing>,
) -> Result<Option<OperationContext>> {
    if resolve.is_empty() && obs.is_none() {
        return Ok(None);
    }
    let inner = if resolve.is_empty() {
        HttpTransporter::default()
    } else {
        let mut builder = reqwest013::Client::builder();
        for (host, address) in resolve {
            builder = builder.resolve(host, *address);
        }
        let client = builder
            .build()
            .map_err(|err| Error::invalid("endpoint", format!("http client: {err}")))?;
        HttpTransporter::new(ReqwestTransport::new(client))
    };
    Ok(Some(OperationContext::new().with_http_transport(
        HttpTransporter::new(Transport { inner, obs }),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_obs_requests_keep_the_endpoint_port() {
        let obs = ObsAddressing::new("bkt", "http://obs.local.test:8999").expect("valid");
        let uri: Uri = "http://bkt.obs.tern-endpoint.myhuaweicloud.com/a%20b?uploads"
            .parse()
            .expect("uri");
        assert_eq!(
            obs.readdress(&uri).to_string(),
            "http://bkt.obs.local.test:8999/a%20b?uploads"
        );
        // Requests elsewhere pass untouched.
        let other: Uri = "http://127.0.0.1:1/x".parse().expect("uri");
        assert_eq!(obs.readdress(&other), other);
    }

    #[test]
    fn test_obs_default_endpoint_without_port_and_bucket_prefixed_endpoint() {
        let obs =
            ObsAddressing::new("bkt", "https://obs.cn-north-4.myhuaweicloud.com").expect("valid");
        assert_eq!(
            obs.authority.as_str(),
            "bkt.obs.cn-north-4.myhuaweicloud.com"
        );
        let obs = ObsAddressing::new("bkt", "https://bkt.obs.example.com:443").expect("valid");
        assert_eq!(obs.authority.as_str(), "bkt.obs.example.com:443");
        assert_eq!(
            ObsAddressing::stand_in_endpoint("http://obs.example.com:80"),
            "http://obs.tern-endpoint.myhuaweicloud.com"
        );
        assert!(ObsAddressing::new("b", "not a url").is_err());
    }
}
