DELETE FROM audit_events WHERE action IN ('create_registration_token', 'revoke_registration_token');
ALTER TABLE audit_events DROP CONSTRAINT audit_events_action_check;
ALTER TABLE audit_events ADD CONSTRAINT audit_events_action_check CHECK (action IN
    ('create', 'update', 'delete', 'undelete', 'rotate_secret'));
DROP TABLE registration_tokens;
DROP INDEX applications_dynamic_live;
DROP INDEX applications_org_visual_key_live;
CREATE UNIQUE INDEX applications_org_visual_key_live
    ON applications (organization_id, visual_key) WHERE delete_time IS NULL;
DROP INDEX applications_org_name_key_live;
CREATE UNIQUE INDEX applications_org_name_key_live
    ON applications (organization_id, name_key) WHERE delete_time IS NULL;
DROP INDEX applications_org_name_live;
CREATE UNIQUE INDEX applications_org_name_live
    ON applications (organization_id, lower(name)) WHERE delete_time IS NULL;
ALTER TABLE applications
    DROP COLUMN registration_access_hash,
    DROP COLUMN dynamically_registered;
