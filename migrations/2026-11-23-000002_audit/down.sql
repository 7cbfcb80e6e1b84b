DROP INDEX client_secrets_expiry;
DROP TABLE audit_events;
