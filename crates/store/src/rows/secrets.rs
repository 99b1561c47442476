//! The sealed plaintext of task and group secrets. Never `Debug`, never logged.

use serde::{Deserialize, Serialize};
use tern_core::{Credentials, Error, Secret, TaskSecrets};

/// Encodes task secrets as the plaintext that gets sealed.
pub(crate) fn secrets_json(secrets: &TaskSecrets) -> Result<Vec<u8>, Error> {
    let stored = StoredSecrets {
        src: StoredCredentials::from(&secrets.src),
        dst: StoredCredentials::from(&secrets.dst),
        cdn_key: expose(secrets.cdn_key.as_ref()),
    };
    serde_json::to_vec(&stored).map_err(|err| Error::Internal(format!("encoding secrets: {err}")))
}

/// Decodes unsealed plaintext back into task secrets.
pub(crate) fn secrets_from_json(plaintext: &[u8]) -> Result<TaskSecrets, Error> {
    let stored: StoredSecrets = serde_json::from_slice(plaintext)
        .map_err(|err| Error::Internal(format!("decoding secrets: {err}")))?;
    Ok(TaskSecrets {
        src: stored.src.into(),
        dst: stored.dst.into(),
        cdn_key: stored.cdn_key.map(Secret::new),
    })
}

/// Sealed plaintext of a task's secrets. Never `Debug`, never logged.
#[derive(Serialize, Deserialize)]
struct StoredSecrets {
    src: StoredCredentials,
    dst: StoredCredentials,
    cdn_key: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct StoredCredentials {
    access_key: String,
    secret_key: String,
    security_token: Option<String>,
    connection_string: Option<String>,
    json_auth_file: Option<String>,
}

impl From<&Credentials> for StoredCredentials {
    fn from(credentials: &Credentials) -> Self {
        StoredCredentials {
            access_key: credentials.access_key.clone(),
            secret_key: credentials.secret_key.expose().to_owned(),
            security_token: expose(credentials.security_token.as_ref()),
            connection_string: expose(credentials.connection_string.as_ref()),
            json_auth_file: expose(credentials.json_auth_file.as_ref()),
        }
    }
}

impl From<StoredCredentials> for Credentials {
    fn from(stored: StoredCredentials) -> Self {
        Credentials {
            access_key: stored.access_key,
            secret_key: Secret::new(stored.secret_key),
            security_token: stored.security_token.map(Secret::new),
            connection_string: stored.connection_string.map(Secret::new),
            json_auth_file: stored.json_auth_file.map(Secret::new),
        }
    }
}

fn expose(secret: Option<&Secret>) -> Option<String> {
    secret.map(|secret| secret.expose().to_owned())
}
