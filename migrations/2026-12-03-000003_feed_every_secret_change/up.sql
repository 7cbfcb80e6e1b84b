-- Every change to an application's secrets is in the change feed, not only
-- a new current secret: the replicas' application caches follow the feed
-- (src/store/app_cache.rs), and a DBA who deletes a secret, or ends a
-- previous secret's grace early, with psql must revoke it on every replica
-- within the same bound as the service's own rotations.
--
-- As before, a change the same transaction already recorded for the
-- application (its creation, the revision bump of a rotation) is completed
-- rather than a second one recorded; a change to the current secret makes
-- an update a rotation. A secret change on its own is recorded as a
-- rotation when it touched the current secret, otherwise as an update
-- (the application as watchers see it may not differ: no secret is ever
-- in the feed). A secret removed with its application (the cascade of a
-- DELETE) records nothing more: the application's deletion is recorded;
-- nor does the sweeper's purge of an expired previous secret.
CREATE OR REPLACE FUNCTION oauth_apps_feed_secret() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    app applications;
    updated INT;
    app_id TEXT;
    current BOOLEAN;
BEGIN
    IF TG_OP = 'DELETE' THEN
        -- A previous secret past its expiry already verifies nowhere (its
        -- expiry is checked at each use): the sweeper's purge of it
        -- changes nothing anyone sees, and is no change.
        IF OLD.slot <> 'current' AND OLD.expire_time <= now() THEN
            RETURN NULL;
        END IF;
        app_id := OLD.application_id;
        current := OLD.slot = 'current';
    ELSE
        app_id := NEW.application_id;
        current := NEW.slot = 'current' OR (TG_OP = 'UPDATE' AND OLD.slot = 'current');
    END IF;
    SELECT * INTO app FROM applications WHERE id = app_id;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    UPDATE application_changes
    SET application = oauth_apps_feed_snapshot(app),
        change_type = CASE WHEN current AND change_type = 'updated' THEN 'secret_rotated'
                           ELSE change_type END
    WHERE xid = pg_current_xact_id() AND application_id = app.id
      AND pos = (SELECT max(pos) FROM application_changes
                 WHERE xid = pg_current_xact_id() AND application_id = app.id);
    GET DIAGNOSTICS updated = ROW_COUNT;
    IF updated = 0 THEN
        PERFORM oauth_apps_feed_record(app.organization_id, app.id,
                                       CASE WHEN current THEN 'secret_rotated' ELSE 'updated' END,
                                       oauth_apps_feed_snapshot(app));
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER client_secrets_feed ON client_secrets;
CREATE TRIGGER client_secrets_feed AFTER INSERT OR UPDATE OR DELETE ON client_secrets
    FOR EACH ROW EXECUTE FUNCTION oauth_apps_feed_secret();
