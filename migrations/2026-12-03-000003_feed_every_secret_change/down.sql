-- Back to recording only a new current secret.
CREATE OR REPLACE FUNCTION oauth_apps_feed_secret() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    app applications;
    updated INT;
BEGIN
    IF NEW.slot <> 'current' THEN
        RETURN NULL;
    END IF;
    SELECT * INTO app FROM applications WHERE id = NEW.application_id;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    UPDATE application_changes
    SET application = oauth_apps_feed_snapshot(app),
        change_type = CASE change_type WHEN 'updated' THEN 'secret_rotated' ELSE change_type END
    WHERE xid = pg_current_xact_id() AND application_id = app.id
      AND pos = (SELECT max(pos) FROM application_changes
                 WHERE xid = pg_current_xact_id() AND application_id = app.id);
    GET DIAGNOSTICS updated = ROW_COUNT;
    IF updated = 0 THEN
        PERFORM oauth_apps_feed_record(app.organization_id, app.id, 'secret_rotated',
                                       oauth_apps_feed_snapshot(app));
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER client_secrets_feed ON client_secrets;
CREATE TRIGGER client_secrets_feed AFTER INSERT OR UPDATE ON client_secrets
    FOR EACH ROW EXECUTE FUNCTION oauth_apps_feed_secret();
