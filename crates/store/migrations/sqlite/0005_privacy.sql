-- When each project last accepted the privacy agreement (update_privacy_agreement_record).
CREATE TABLE privacy_agreements (
    project_id TEXT PRIMARY KEY NOT NULL,
    accepted_at_ms INTEGER NOT NULL
);
