DROP TABLE service_settings;
DROP TABLE client_secrets;
DROP TABLE applications;
DROP TABLE memberships;
