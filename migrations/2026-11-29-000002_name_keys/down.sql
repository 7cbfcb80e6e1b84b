DROP INDEX applications_name_keys_pending;
DROP INDEX applications_org_visual_key_live;
DROP INDEX applications_org_name_key_live;
ALTER TABLE applications
    DROP COLUMN name_keys_version,
    DROP COLUMN visual_key,
    DROP COLUMN name_key;
