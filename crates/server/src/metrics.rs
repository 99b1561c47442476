//! The Prometheus registry behind `GET /metrics`: HTTP requests by route template, the
//! scheduler's and engine's counters, and tasks by status read from the store at scrape time.
//!
//! One registry per [`AppState`](crate::AppState), never a global, so tests that build several
//! apps in one process each read their own numbers. Every name is prefixed `tern_`.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use tern_core::TaskStatus;
use tern_scheduler::SchedulerMetrics;

use crate::error::{ApiError, Result};
use crate::state::AppState;

/// Route label of a request no route matched (any unknown path counts here, so a scan of
/// random paths cannot add series).
const UNMATCHED_ROUTE: &str = "unmatched";
/// Every task status, so a status with no task still shows as 0.
const TASK_STATUSES: [TaskStatus; 7] = [
    TaskStatus::Waiting,
    TaskStatus::Migrating,
    TaskStatus::Paused,
    TaskStatus::Failed,
    TaskStatus::Succeeded,
    TaskStatus::Retrying,
    TaskStatus::Pausing,
];

/// Labels of a finished HTTP request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

/// Labels of a request's latency.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    method: &'static str,
    route: String,
}

/// The `status` label of the tasks gauge: the OMS status code.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TaskStatusLabels {
    status: i32,
}

/// Everything `/metrics` reports for one server.
#[derive(Debug)]
pub struct ServerMetrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<LatencyLabels, Histogram>,
    tasks: Family<TaskStatusLabels, Gauge>,
}

impl ServerMetrics {
    /// A registry holding the HTTP metrics, the tasks gauge and the scheduler's counters.
    pub fn new(scheduler: &SchedulerMetrics) -> ServerMetrics {
        let mut registry = Registry::with_prefix("tern");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<LatencyLabels, Histogram>::new_with_constructor(
            // 1 ms .. ~33 s: the API's own work up to its request timeout.
            (|| Histogram::new(exponential_buckets(0.001, 2.0, 16))) as fn() -> Histogram,
        );
        let tasks = Family::<TaskStatusLabels, Gauge>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer HTTP requests, by method and route template",
            latency.clone(),
        );
        registry.register(
            "tasks",
            "Migration tasks of every project by OMS status code (1 waiting, 2 migrating, \
             3 paused, 4 failed, 5 succeeded, 6 retrying, 7 pausing)",
            tasks.clone(),
        );
        scheduler.register(&mut registry);
        ServerMetrics {
            registry,
            requests,
            latency,
            tasks,
        }
    }

    /// Counts one answered request.
    fn record_request(&self, method: &'static str, route: String, status: u16, seconds: f64) {
        self.latency
            .get_or_create(&LatencyLabels {
                method,
                route: route.clone(),
            })
            .observe(seconds);
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route,
                status,
            })
            .inc();
    }

    /// Sets the tasks gauge from counts read from the store.
    fn set_task_counts(&self, counts: &[(TaskStatus, u64)]) {
        for status in TASK_STATUSES {
            let count = counts
                .iter()
                .find(|(counted, _)| *counted == status)
                .map_or(0, |(_, count)| *count);
            self.tasks
                .get_or_create(&TaskStatusLabels {
                    status: status.code(),
                })
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
    }

    /// The exposition text (OpenMetrics, which Prometheus reads).
    fn encode(&self) -> Result<String> {
        let mut text = String::new();
        encode(&mut text, &self.registry)
            .map_err(|err| ApiError::Internal(format!("encoding metrics: {err}")))?;
        Ok(text)
    }
}

/// Content type of the exposition text.
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Reads the tasks gauge from the store and renders every metric.
pub async fn render(state: &AppState) -> Result<String> {
    let counts = state.store.count_tasks_by_status().await?;
    state.metrics.set_task_counts(&counts);
    state.metrics.encode()
}

/// Middleware counting every request by its route template (`/v2/{project_id}/tasks/{task_id}`,
/// never the raw path, so ids do not multiply series) and final status.
pub async fn track_requests(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = request.extensions().get::<MatchedPath>().map_or_else(
        || UNMATCHED_ROUTE.to_owned(),
        |path| path.as_str().to_owned(),
    );
    let response = next.run(request).await;
    state.metrics.record_request(
        method,
        route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// The method as a label; anything but the standard methods is `other`, keeping the set closed.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}
