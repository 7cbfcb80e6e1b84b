-- Names that look the same are the same name: uniqueness among an
-- organization's live applications holds on two look-alike keys (UTS #39
-- confusable skeletons, case-folded and as written; see src/domain/names.rs).
-- The service computes them (the Unicode tables live in Rust): on every
-- write, and at start-up for rows without them or with an older version.
ALTER TABLE applications
    ADD COLUMN name_key TEXT COLLATE "C",
    ADD COLUMN visual_key TEXT COLLATE "C",
    ADD COLUMN name_keys_version SMALLINT;

CREATE UNIQUE INDEX applications_org_name_key_live
    ON applications (organization_id, name_key)
    WHERE delete_time IS NULL;
CREATE UNIQUE INDEX applications_org_visual_key_live
    ON applications (organization_id, visual_key)
    WHERE delete_time IS NULL;

-- Rows still to be keyed are found by this.
CREATE INDEX applications_name_keys_pending
    ON applications (id)
    WHERE name_keys_version IS NULL;
