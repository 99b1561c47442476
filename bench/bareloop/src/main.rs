//! `tern-bareloop`: the machine's ceiling for the benchmarks.
//!
//! Lists the source bucket with OpenDAL and, for every object, reads it whole and writes it
//! whole to the destination bucket, `--concurrency` objects in flight. No compare, no checksum,
//! no multipart, no retry: whatever tern does beyond this loop costs time measured against it.
//!
//! ```text
//! tern-bareloop --src-endpoint URL --src-bucket B --dst-endpoint URL --dst-bucket B
//!               [--concurrency 64] [--region us-east-1]
//!               [--src-ak AK --src-sk SK] [--dst-ak AK --dst-sk SK]
//! ```
//!
//! Keys default to `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`. Prints one JSON line:
//! `{"objects":N,"bytes":B,"seconds":S}`.

use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use futures::TryStreamExt;
use opendal::{services, EntryMode, Operator};

const USAGE: &str =
    "usage: tern-bareloop --src-endpoint URL --src-bucket B --dst-endpoint URL --dst-bucket B \
[--concurrency N] [--region R] [--src-ak AK] [--src-sk SK] [--dst-ak AK] [--dst-sk SK]";

/// Command-line arguments, parsed by hand (the binary is a bench tool, not a product).
#[derive(Debug)]
struct Args {
    src_endpoint: String,
    src_bucket: String,
    dst_endpoint: String,
    dst_bucket: String,
    concurrency: usize,
    region: String,
    src_ak: Option<String>,
    src_sk: Option<String>,
    dst_ak: Option<String>,
    dst_sk: Option<String>,
}

fn parse_args() -> Result<Args> {
    let mut src_endpoint = None;
    let mut src_bucket = None;
    let mut dst_endpoint = None;
    let mut dst_bucket = None;
    let mut concurrency = 64usize;
    let mut region = "us-east-1".to_string();
    let (mut src_ak, mut src_sk, mut dst_ak, mut dst_sk) = (None, None, None, None);

    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        // Accept both `--flag value` and `--flag=value`.
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (flag.clone(), None),
        };
        let value = match inline {
            Some(v) => v,
            None => args
                .next()
                .ok_or_else(|| anyhow!("{name} needs a value\n{USAGE}"))?,
        };
        match name.as_str() {
            "--src-endpoint" => src_endpoint = Some(value),
            "--src-bucket" => src_bucket = Some(value),
            "--dst-endpoint" => dst_endpoint = Some(value),
            "--dst-bucket" => dst_bucket = Some(value),
            "--concurrency" => {
                concurrency = value
                    .parse()
                    .with_context(|| format!("--concurrency {value}"))?
            }
            "--region" => region = value,
            "--src-ak" => src_ak = Some(value),
            "--src-sk" => src_sk = Some(value),
            "--dst-ak" => dst_ak = Some(value),
            "--dst-sk" => dst_sk = Some(value),
            other => bail!("unknown argument {other}\n{USAGE}"),
        }
    }
    let need =
        |v: Option<String>, name: &str| v.ok_or_else(|| anyhow!("{name} is required\n{USAGE}"));
    Ok(Args {
        src_endpoint: need(src_endpoint, "--src-endpoint")?,
        src_bucket: need(src_bucket, "--src-bucket")?,
        dst_endpoint: need(dst_endpoint, "--dst-endpoint")?,
        dst_bucket: need(dst_bucket, "--dst-bucket")?,
        concurrency: concurrency.max(1),
        region,
        src_ak,
        src_sk,
        dst_ak,
        dst_sk,
    })
}

/// An S3 operator that reads nothing from the environment or config files (path-style by default).
fn s3(
    endpoint: &str,
    bucket: &str,
    region: &str,
    ak: Option<String>,
    sk: Option<String>,
) -> Result<Operator> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let ak = ak.or_else(|| env("AWS_ACCESS_KEY_ID"));
    let sk = sk.or_else(|| env("AWS_SECRET_ACCESS_KEY"));
    let mut builder = services::S3::default()
        .endpoint(endpoint)
        .bucket(bucket)
        .region(region)
        .disable_config_load()
        .disable_ec2_metadata();
    match (ak, sk) {
        (Some(ak), Some(sk)) => builder = builder.access_key_id(&ak).secret_access_key(&sk),
        _ => builder = builder.skip_signature(),
    }
    Ok(Operator::new(builder)?)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = parse_args()?;
    // Without OpenDAL's constructor feature the HTTP transport must be installed by hand.
    opendal::install_default();
    let src = s3(
        &args.src_endpoint,
        &args.src_bucket,
        &args.region,
        args.src_ak,
        args.src_sk,
    )
    .context("source operator")?;
    let dst = s3(
        &args.dst_endpoint,
        &args.dst_bucket,
        &args.region,
        args.dst_ak,
        args.dst_sk,
    )
    .context("destination operator")?;

    let started = Instant::now();
    let lister = src
        .lister_with("")
        .recursive(true)
        .await
        .context("list source")?;

    let (objects, bytes) = lister
        .map_err(anyhow::Error::from)
        .try_filter(|entry| futures::future::ready(entry.metadata().mode() == EntryMode::FILE))
        .map_ok(|entry| {
            let (src, dst) = (src.clone(), dst.clone());
            // Spawned so reads and writes of different objects use both cores.
            let handle = tokio::spawn(async move {
                let path = entry.path().to_string();
                let data = src
                    .read(&path)
                    .await
                    .with_context(|| format!("read {path}"))?;
                let len = data.len() as u64;
                dst.write(&path, data)
                    .await
                    .with_context(|| format!("write {path}"))?;
                Ok::<u64, anyhow::Error>(len)
            });
            async move { handle.await? }
        })
        .try_buffer_unordered(args.concurrency)
        .try_fold((0u64, 0u64), |(n, b), len| {
            futures::future::ready(Ok((n + 1, b + len)))
        })
        .await?;

    let seconds = started.elapsed().as_secs_f64();
    println!("{{\"objects\":{objects},\"bytes\":{bytes},\"seconds\":{seconds:.3}}}");
    Ok(())
}
