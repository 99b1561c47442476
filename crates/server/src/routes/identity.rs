//! `GET /tern/whoami`: the project a token or AK/SK belongs to (tern's own route, not OMS's).
//!
//! OMS clients always know their project id; tern's command-line verbs are given only an
//! endpoint and a token, and ask here which project to put in the `/v2/{project_id}` paths.

use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::authn::Caller;
use crate::state::AppState;

/// The body of `GET /tern/whoami`.
#[derive(Debug, Serialize, ToSchema)]
pub struct WhoAmI {
    /// The project of the calling identity.
    pub project_id: String,
}

/// The identity route; it sits behind the authentication layer.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(whoami))
}

#[utoipa::path(
    get,
    path = "/tern/whoami",
    tag = "identity",
    operation_id = "ShowWhoAmI",
    responses((status = 200, description = "The project of the calling token or access key", body = WhoAmI))
)]
async fn whoami(caller: Caller) -> Json<WhoAmI> {
    Json(WhoAmI {
        project_id: caller.project_id,
    })
}
