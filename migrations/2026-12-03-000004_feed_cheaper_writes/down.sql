-- Back to the JSON comparison and the index on create_time.
CREATE OR REPLACE FUNCTION oauth_apps_feed_application() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    kind TEXT;
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM oauth_apps_feed_record(NEW.organization_id, NEW.id, 'created',
                                       oauth_apps_feed_snapshot(NEW));
    ELSIF TG_OP = 'DELETE' THEN
        -- Removed for good: described as deleted, at its last state.
        OLD.delete_time := coalesce(OLD.delete_time, now());
        PERFORM oauth_apps_feed_record(OLD.organization_id, OLD.id, 'deleted',
                                       oauth_apps_feed_snapshot(OLD));
    ELSE
        -- Nothing a watcher sees changed (a registration access token
        -- replaced, look-alike keys computed): no change.
        IF (to_jsonb(OLD) - 'registration_access_hash' - 'name_key' - 'visual_key' - 'name_keys_version')
           = (to_jsonb(NEW) - 'registration_access_hash' - 'name_key' - 'visual_key' - 'name_keys_version') THEN
            RETURN NULL;
        END IF;
        kind := CASE
            WHEN OLD.delete_time IS NULL AND NEW.delete_time IS NOT NULL THEN 'deleted'
            WHEN OLD.delete_time IS NOT NULL AND NEW.delete_time IS NULL THEN 'undeleted'
            ELSE 'updated'
        END;
        PERFORM oauth_apps_feed_record(NEW.organization_id, NEW.id, kind,
                                       oauth_apps_feed_snapshot(NEW));
    END IF;
    RETURN NULL;
END
$$;

CREATE INDEX application_changes_time ON application_changes (create_time);
