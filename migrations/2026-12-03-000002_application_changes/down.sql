DROP TRIGGER IF EXISTS applications_feed ON applications;
DROP TRIGGER IF EXISTS client_secrets_feed ON client_secrets;
DROP FUNCTION IF EXISTS oauth_apps_feed_application();
DROP FUNCTION IF EXISTS oauth_apps_feed_secret();
DROP FUNCTION IF EXISTS oauth_apps_feed_record(TEXT, TEXT, TEXT, JSONB);
DROP FUNCTION IF EXISTS oauth_apps_feed_snapshot(applications);
DROP TABLE IF EXISTS application_changes;
