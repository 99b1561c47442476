//! The verifying vendor proxy refuses what a vendor would: unsigned or wrongly signed requests
//! (403, bucket and service hosts alike) and a Host without the endpoint's port (400), and
//! forwards none of them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]

use tern_testkit::{S3Flavor, S3Server, Vendor, VendorProxy, VENDOR_ACCESS_KEY};

#[tokio::test]
async fn test_proxy_refuses_bad_signatures_and_hosts_without_port() {
    let server = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    let bucket = server.new_bucket("proxy-refusals").await.unwrap();
    server
        .client()
        .put_object(&bucket, "a.txt", b"secret bytes".to_vec(), None, &[])
        .await
        .unwrap();
    let proxy = VendorProxy::start(
        server,
        &[
            (Vendor::Oss, "oss.refusals.tern.test"),
            (Vendor::Obs, "obs.refusals.tern.test"),
            (Vendor::Cos, "cos.refusals.tern.test"),
        ],
    )
    .await
    .unwrap();
    for vendor in [Vendor::Oss, Vendor::Obs, Vendor::Cos] {
        let (host, address) = proxy.resolve(vendor, &bucket);
        let client = reqwest::Client::builder()
            .no_proxy()
            .resolve(&host, address)
            .build()
            .unwrap();
        let url = format!("http://{host}:{}/a.txt", address.port());
        let date = "Thu, 03 Dec 2026 12:00:00 GMT";
        let forged = match vendor {
            Vendor::Oss => format!("OSS {VENDOR_ACCESS_KEY}:AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
            Vendor::Obs => format!("OBS {VENDOR_ACCESS_KEY}:AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
            Vendor::Cos => format!(
                "q-sign-algorithm=sha1&q-ak={VENDOR_ACCESS_KEY}&q-sign-time=1;9999999999\
                 &q-key-time=1;9999999999&q-header-list=&q-url-param-list=\
                 &q-signature=0000000000000000000000000000000000000000"
            ),
        };
        for authorization in [None, Some(forged)] {
            let mut request = client.get(&url).header("date", date);
            if let Some(authorization) = &authorization {
                request = request.header("authorization", authorization);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let body = response.text().await.unwrap();
            assert_eq!(status, 403, "{vendor:?} {authorization:?}: {body}");
            assert!(body.contains("SignatureDoesNotMatch"), "{body}");
            assert!(!body.contains("secret bytes"), "{body}");
        }
        // The same request with the port dropped from Host never reaches a signature check.
        let response = client
            .get(&url)
            .header("host", host.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400, "{vendor:?}");
        // An unsigned ListBuckets at the service host (no bucket in it) is refused too.
        let endpoint = proxy.endpoint(vendor);
        let service_host = endpoint
            .trim_start_matches("http://")
            .split(':')
            .next()
            .unwrap()
            .to_owned();
        let client = reqwest::Client::builder()
            .no_proxy()
            .resolve(&service_host, address)
            .build()
            .unwrap();
        let response = client
            .get(format!("{endpoint}/"))
            .header("date", date)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 403, "{vendor:?} ListBuckets");
        assert!(!response.text().await.unwrap().contains(&bucket));
    }
    assert_eq!(proxy.verified(), 0);
    assert_eq!(proxy.refusals().len(), 12, "{:?}", proxy.refusals());
}
