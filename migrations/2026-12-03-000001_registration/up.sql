-- Clients that register themselves (RFC 7591/7592).
--
-- A dynamically registered application is marked, so that an authorization
-- server can show it as unverified on its consent screen, and it is exempt
-- from name uniqueness: many users register "the same" tool.
ALTER TABLE applications
    ADD COLUMN dynamically_registered BOOLEAN NOT NULL DEFAULT FALSE,
    -- Keyed hash (HMAC-SHA-256) of the client's current RFC 7592
    -- registration access token; NULL when it has none. Kept on the
    -- client's own row, so a token can only ever be bound to that client.
    ADD COLUMN registration_access_hash BYTEA
        CHECK (registration_access_hash IS NULL OR length(registration_access_hash) = 32);

DROP INDEX applications_org_name_live;
CREATE UNIQUE INDEX applications_org_name_live
    ON applications (organization_id, lower(name))
    WHERE delete_time IS NULL AND NOT dynamically_registered;
DROP INDEX applications_org_name_key_live;
CREATE UNIQUE INDEX applications_org_name_key_live
    ON applications (organization_id, name_key)
    WHERE delete_time IS NULL AND NOT dynamically_registered;
DROP INDEX applications_org_visual_key_live;
CREATE UNIQUE INDEX applications_org_visual_key_live
    ON applications (organization_id, visual_key)
    WHERE delete_time IS NULL AND NOT dynamically_registered;

-- Open registration's total limit counts these.
CREATE INDEX applications_dynamic_live
    ON applications (organization_id)
    WHERE dynamically_registered AND delete_time IS NULL;

-- Initial access tokens for RFC 7591 registration, made by an organization's
-- OWNER or ADMIN. Only a keyed hash of the secret is stored: the secret is
-- 256 random bits, so a fast keyed hash is as strong as a slow one and costs
-- a registration no argon2 time.
CREATE TABLE registration_tokens (
    id                 TEXT PRIMARY KEY,
    organization_id    TEXT NOT NULL CHECK (length(organization_id) BETWEEN 1 AND 128),
    token_hash         BYTEA NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    description        TEXT NOT NULL DEFAULT '' CHECK (length(description) <= 500),
    created_by         TEXT NOT NULL,
    create_time        TIMESTAMPTZ NOT NULL DEFAULT now(),
    expire_time        TIMESTAMPTZ NOT NULL,
    max_registrations  INTEGER NOT NULL CHECK (max_registrations BETWEEN 1 AND 1000),
    -- Counted in the registration's own transaction, never past the maximum.
    registrations_used INTEGER NOT NULL DEFAULT 0
        CHECK (registrations_used BETWEEN 0 AND max_registrations),
    revoke_time        TIMESTAMPTZ
);
CREATE INDEX registration_tokens_org_order
    ON registration_tokens (organization_id, create_time, id);

-- Registration tokens are made and revoked by people (audited with the
-- token's id), and an RFC 7592 update gives its client a new registration
-- access token.
ALTER TABLE audit_events DROP CONSTRAINT audit_events_action_check;
ALTER TABLE audit_events ADD CONSTRAINT audit_events_action_check CHECK (action IN
    ('create', 'update', 'delete', 'undelete', 'rotate_secret',
     'create_registration_token', 'revoke_registration_token'));
