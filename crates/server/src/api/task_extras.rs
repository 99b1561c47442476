//! The optional parts of `create_task`: `source_cdn` and `smn_config`, and the [`TaskEcho`]
//! that keeps them (without secrets) in `TaskSpec::echo_json` for responses.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::names;
use tern_core::Secret;

use super::validate::{check_crypto, check_len, check_non_empty, check_one_of, optional_secret};
use super::SourceCdnResp;
use crate::ApiError;

/// `source_cdn.authentication_type` values (REFERENCE.md §4).
const CDN_AUTHENTICATION_TYPES: [&str; 11] = [
    "NONE",
    "QINIU_PRIVATE_AUTHENTICATION",
    "ALIYUN_OSS_A",
    "ALIYUN_OSS_B",
    "ALIYUN_OSS_C",
    "KSYUN_PRIVATE_AUTHENTICATION",
    "AZURE_SAS_TOKEN",
    "TENCENT_COS_A",
    "TENCENT_COS_B",
    "TENCENT_COS_C",
    "TENCENT_COS_D",
];
/// Longest CDN authentication key (StartTaskReq's `source_cdn_authentication_key` limit, applied
/// at create too so a key accepted here can be re-supplied on start).
pub(crate) const MAX_CDN_KEY_LEN: usize = 255;
/// Longest CDN domain: a DNS name is at most 255 octets (RFC 1035 §2.3.4). OMS states no limit.
const MAX_CDN_DOMAIN_LEN: usize = 255;
/// Longest SMN topic URN, `urn:smn:<region>:<project_id>:<topic>`: SMN topic names have 1..255
/// characters, regions 100 (as for OMS regions) and project ids 64 (as tern's); 512 leaves room.
/// OMS states no limit.
const MAX_TOPIC_URN_LEN: usize = 512;
/// Longest SMN message template name (SMN `CreateMessageTemplate`: 1..64). OMS states no limit.
const MAX_MESSAGE_TEMPLATE_NAME_LEN: usize = 64;
/// `trigger_conditions` is a subset of {SUCCESS, FAILURE}.
const MAX_TRIGGER_CONDITIONS: usize = 2;

/// `source_cdn` of `create_task`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct SourceCdnReq {
    /// CDN auth key; required unless `authentication_type` is `NONE`.
    #[schema(value_type = Option<String>, max_length = 255)]
    pub authentication_key: Option<Secret>,
    /// URL-auth scheme.
    #[schema(value_type = names::CdnAuthenticationType)]
    pub authentication_type: String,
    /// CDN domain.
    #[schema(min_length = 1, max_length = 255)]
    pub domain: String,
    /// `http` or `https`.
    #[schema(value_type = names::CdnProtocol)]
    pub protocol: String,
    /// `DEFAULT` or `KMS`.
    #[schema(value_type = Option<names::CryptoType>)]
    pub crypto_type: Option<String>,
    /// KMS key id, 36 characters.
    #[schema(min_length = 36, max_length = 36)]
    pub kms_key_id: Option<String>,
}

/// `smn_config` of `create_task` (echoed unchanged, so it also serializes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SmnConfig {
    /// `zh-cn` or `en-us`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<names::SmnLanguage>)]
    pub language: Option<String>,
    /// Topic URN.
    #[schema(min_length = 1, max_length = 512)]
    pub topic_urn: String,
    /// Subset of `SUCCESS`, `FAILURE`.
    #[schema(value_type = Vec<names::TriggerCondition>, max_items = 2)]
    pub trigger_conditions: Vec<String>,
    /// Message template name.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 64)]
    pub message_template_name: Option<String>,
}

/// What a task echoes back that `TaskSpec` does not model, stored as `TaskSpec::echo_json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskEcho {
    /// `source_cdn` without its key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_cdn: Option<SourceCdnResp>,
    /// `smn_config` as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smn_config: Option<SmnConfig>,
    /// `src_node.list_file.list_file_num` as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_file_num: Option<String>,
}

impl TaskEcho {
    /// Reads `TaskSpec::echo_json`; empty or unreadable text yields an empty echo.
    pub fn parse(echo_json: &str) -> TaskEcho {
        serde_json::from_str(echo_json).unwrap_or_default()
    }

    /// The JSON object text stored in `TaskSpec::echo_json`.
    pub fn to_json(&self) -> Result<String, ApiError> {
        serde_json::to_string(self).map_err(|e| ApiError::Internal(format!("echo json: {e}")))
    }
}

impl SourceCdnReq {
    /// Validates the CDN settings; returns what is echoed and the secret key.
    pub(crate) fn into_domain(self) -> Result<(SourceCdnResp, Option<Secret>), ApiError> {
        check_one_of(
            "source_cdn.authentication_type",
            &self.authentication_type,
            &CDN_AUTHENTICATION_TYPES,
        )?;
        check_non_empty("source_cdn.domain", &self.domain)?;
        check_len("source_cdn.domain", &self.domain, 1, MAX_CDN_DOMAIN_LEN)?;
        check_one_of("source_cdn.protocol", &self.protocol, &["http", "https"])?;
        check_crypto(
            "source_cdn.crypto_type",
            self.crypto_type.as_deref(),
            "source_cdn.kms_key_id",
            self.kms_key_id.as_deref(),
        )?;
        let key = optional_secret(
            "source_cdn.authentication_key",
            self.authentication_key,
            0,
            MAX_CDN_KEY_LEN,
        )?;
        if self.authentication_type != "NONE" && key.is_none() {
            return Err(ApiError::invalid(
                "source_cdn.authentication_key",
                format!(
                    "is required when authentication_type is {}",
                    self.authentication_type
                ),
            ));
        }
        let echo = SourceCdnResp {
            domain: self.domain,
            protocol: self.protocol,
            authentication_type: self.authentication_type,
        };
        Ok((echo, key))
    }
}

impl SmnConfig {
    /// Checks topic, trigger conditions and language.
    pub(crate) fn validate(&self) -> Result<(), ApiError> {
        check_non_empty("smn_config.topic_urn", &self.topic_urn)?;
        check_len(
            "smn_config.topic_urn",
            &self.topic_urn,
            1,
            MAX_TOPIC_URN_LEN,
        )?;
        if self.trigger_conditions.len() > MAX_TRIGGER_CONDITIONS {
            return Err(ApiError::invalid(
                "smn_config.trigger_conditions",
                format!(
                    "{} values given, at most {MAX_TRIGGER_CONDITIONS} (SUCCESS, FAILURE)",
                    self.trigger_conditions.len()
                ),
            ));
        }
        for (index, condition) in self.trigger_conditions.iter().enumerate() {
            check_one_of(
                &format!("smn_config.trigger_conditions[{index}]"),
                condition,
                &["SUCCESS", "FAILURE"],
            )?;
        }
        if let Some(language) = &self.language {
            check_one_of("smn_config.language", language, &["zh-cn", "en-us"])?;
        }
        if let Some(name) = &self.message_template_name {
            check_len(
                "smn_config.message_template_name",
                name,
                0,
                MAX_MESSAGE_TEMPLATE_NAME_LEN,
            )?;
        }
        Ok(())
    }
}
