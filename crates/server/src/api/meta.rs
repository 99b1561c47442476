//! Lookup results with no task behind them: regions per vendor and API versions.

use serde::{Deserialize, Serialize};
use tern_core::RegionEntry;
use utoipa::ToSchema;

/// One region of a vendor (`show_region_info`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RegionInfo {
    /// Vendor, e.g. `AWS`.
    pub cloud_type: String,
    /// Region id, e.g. `us-east-1`.
    pub value: String,
    /// Display name.
    pub description: String,
}

/// One vendor with its regions; `show_region_info` returns a bare JSON array of these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ShowRegionInfoResp {
    /// Vendor name.
    pub service_name: String,
    /// Its regions.
    pub region_list: Vec<RegionInfo>,
}

impl ShowRegionInfoResp {
    /// Groups region-table entries by vendor, vendors in order of first appearance.
    pub fn from_entries(entries: &[RegionEntry]) -> Vec<ShowRegionInfoResp> {
        let mut grouped: Vec<ShowRegionInfoResp> = Vec::new();
        for entry in entries {
            let vendor = entry.cloud_type.as_str();
            let region = RegionInfo {
                cloud_type: vendor.to_owned(),
                value: entry.region.clone(),
                description: entry.description.clone(),
            };
            match grouped.iter_mut().find(|g| g.service_name == vendor) {
                Some(group) => group.region_list.push(region),
                None => grouped.push(ShowRegionInfoResp {
                    service_name: vendor.to_owned(),
                    region_list: vec![region],
                }),
            }
        }
        grouped
    }
}

/// A link of an API version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Link {
    /// Link URL.
    pub href: String,
    /// Always `self`.
    pub rel: String,
}

/// One API version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Version {
    /// Version id, e.g. `v2`.
    pub id: String,
    /// Links.
    pub links: Vec<Link>,
    /// `CURRENT`, `SUPPORTED` or `DEPRECATED`.
    pub status: String,
    /// UTC time `yyyy-mm-ddThh:mm:ssZ`.
    pub updated: String,
}

/// `GET /` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ListApiVersionsResponse {
    /// The versions.
    pub versions: Vec<Version>,
}

/// `GET /{version}` result: one version's fields at the top level.
pub type ShowApiInfoResponse = Version;

#[cfg(test)]
mod tests {
    use tern_core::RegionTable;

    use super::*;

    #[test]
    fn test_region_info_groups_by_vendor() {
        let table = RegionTable::builtin();
        let grouped = ShowRegionInfoResp::from_entries(table.entries());
        let aws = grouped.iter().find(|g| g.service_name == "AWS").unwrap();
        assert!(aws.region_list.iter().any(|r| r.value == "us-east-1"));
        assert!(aws.region_list.iter().all(|r| r.cloud_type == "AWS"));
        let names: Vec<_> = grouped.iter().map(|g| &g.service_name).collect();
        let mut unique = names.clone();
        unique.dedup();
        assert_eq!(names, unique);
        let json = serde_json::to_value(&grouped[0]).unwrap();
        assert!(json["region_list"][0]["description"].is_string());
    }
}
