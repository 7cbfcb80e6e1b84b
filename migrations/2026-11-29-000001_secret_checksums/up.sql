-- Secrets minted from now on carry a checksum (an HMAC of their random part
-- under a key in service_settings), so a presented string without one is
-- refused without argon2. Secrets minted before have none: they keep
-- verifying the old way until they are rotated.
ALTER TABLE client_secrets ADD COLUMN checksummed BOOLEAN NOT NULL DEFAULT FALSE;
