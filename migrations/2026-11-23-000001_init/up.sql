-- Who may do what in which organization. Roles are checked on every call.
CREATE TABLE memberships (
    organization_id TEXT NOT NULL CHECK (length(organization_id) BETWEEN 1 AND 128),
    user_id         TEXT NOT NULL CHECK (length(user_id) BETWEEN 1 AND 256),
    role            TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    create_time     TIMESTAMPTZ NOT NULL DEFAULT now(),
    update_time     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, user_id)
);

CREATE TABLE applications (
    id                 TEXT PRIMARY KEY,
    organization_id    TEXT NOT NULL,
    name               TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    description        TEXT NOT NULL DEFAULT '' CHECK (length(description) <= 500),
    app_type           TEXT NOT NULL CHECK (app_type IN ('web', 'native', 'user_agent_based', 'service')),
    redirect_uris      TEXT[] NOT NULL DEFAULT '{}',
    scopes             TEXT[] NOT NULL,
    client_id          TEXT NOT NULL UNIQUE,
    active             BOOLEAN NOT NULL DEFAULT TRUE,
    first_party        BOOLEAN NOT NULL DEFAULT FALSE,
    created_by         TEXT NOT NULL,
    create_time        TIMESTAMPTZ NOT NULL DEFAULT now(),
    update_time        TIMESTAMPTZ NOT NULL DEFAULT now(),
    delete_time        TIMESTAMPTZ,
    -- Bumped by every mutation; the etag is derived from it.
    revision           BIGINT NOT NULL DEFAULT 1
);

-- A name is unique among an organization's applications that are not deleted,
-- compared case-insensitively so that "Billing" and "billing" cannot both exist.
CREATE UNIQUE INDEX applications_org_name_live
    ON applications (organization_id, lower(name))
    WHERE delete_time IS NULL;

-- Keyset pagination: ListApplications walks (create_time, id) within an org.
CREATE INDEX applications_org_order ON applications (organization_id, create_time, id);

-- Client secrets, only as argon2id PHC strings. At most one current and one
-- previous (in its grace period) secret per application.
CREATE TABLE client_secrets (
    application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    slot           TEXT NOT NULL CHECK (slot IN ('current', 'previous')),
    secret_hash    TEXT NOT NULL CHECK (secret_hash LIKE '$argon2id$%'),
    hint           TEXT NOT NULL,
    create_time    TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Only a previous secret expires; a current one never does.
    expire_time    TIMESTAMPTZ,
    PRIMARY KEY (application_id, slot),
    CHECK ((slot = 'current') = (expire_time IS NULL))
);

-- Settings the replicas sharing this database agree on, such as the key that
-- signs page tokens.
CREATE TABLE service_settings (
    name  TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);
