-- Client metadata (RFC 7591 section 2) for authorization servers, and the
-- jti of every private_key_jwt assertion accepted, kept until it expires.
ALTER TABLE applications
    ADD COLUMN grant_types TEXT[] NOT NULL DEFAULT '{}'
        CHECK (grant_types <@ ARRAY['authorization_code', 'refresh_token',
                                    'client_credentials', 'device_code']),
    ADD COLUMN token_endpoint_auth_method TEXT NOT NULL DEFAULT 'client_secret_basic'
        CHECK (token_endpoint_auth_method IN ('client_secret_basic', 'client_secret_post',
                                              'private_key_jwt', 'none')),
    ADD COLUMN jwks TEXT CHECK (length(jwks) <= 16384),
    ADD COLUMN client_uri TEXT NOT NULL DEFAULT '' CHECK (length(client_uri) <= 2000),
    ADD COLUMN logo_uri TEXT NOT NULL DEFAULT '' CHECK (length(logo_uri) <= 2000),
    ADD COLUMN policy_uri TEXT NOT NULL DEFAULT '' CHECK (length(policy_uri) <= 2000),
    ADD COLUMN tos_uri TEXT NOT NULL DEFAULT '' CHECK (length(tos_uri) <= 2000),
    ADD COLUMN contacts TEXT[] NOT NULL DEFAULT '{}';

-- Existing applications get the defaults of their type, as a create would.
UPDATE applications SET
    grant_types = CASE
        WHEN app_type = 'service' THEN ARRAY['client_credentials']
        WHEN app_type = 'web' AND cardinality(redirect_uris) = 0 THEN ARRAY['client_credentials']
        ELSE ARRAY['authorization_code', 'refresh_token']
    END,
    token_endpoint_auth_method = CASE
        WHEN app_type IN ('web', 'service') THEN 'client_secret_basic'
        ELSE 'none'
    END;

CREATE TABLE assertion_jtis (
    client_id   TEXT NOT NULL,
    jti         TEXT NOT NULL CHECK (length(jti) BETWEEN 1 AND 256),
    -- Until when the assertion could be accepted (its exp and the skew);
    -- swept afterwards.
    expire_time TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX assertion_jtis_expiry ON assertion_jtis (expire_time);
