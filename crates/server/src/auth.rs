//! Authentication of OMS requests: `SDK-HMAC-SHA256` signatures (what every Huawei SDK sends).

pub mod signature;
