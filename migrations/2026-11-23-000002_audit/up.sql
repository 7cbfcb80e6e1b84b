-- Who did what to which application, and when. Written in the same
-- transaction as the change itself; never holds a secret or a hash.
CREATE TABLE audit_events (
    id              BIGSERIAL PRIMARY KEY,
    organization_id TEXT NOT NULL,
    application_id  TEXT NOT NULL,
    actor           TEXT NOT NULL,
    action          TEXT NOT NULL CHECK (action IN
                        ('create', 'update', 'delete', 'undelete', 'rotate_secret')),
    changed_fields  TEXT[] NOT NULL DEFAULT '{}',
    details         TEXT NOT NULL DEFAULT '',
    create_time     TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX audit_events_org_order ON audit_events (organization_id, id);

-- VerifyClientCredentials and LookupClient find applications by client_id
-- (already unique, hence indexed); expired previous secrets are swept by time.
CREATE INDEX client_secrets_expiry ON client_secrets (expire_time) WHERE slot = 'previous';
