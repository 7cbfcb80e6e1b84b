-- What the change feed costs each write, made smaller (BENCHMARKS.md,
-- "Writes with the feed and without").
--
-- 1. An update that changes nothing a watcher sees (a registration access
--    token replaced, look-alike keys computed) is told apart by comparing
--    the rows themselves, with those columns made equal, instead of
--    building two JSON documents of them. (Every column of `applications`
--    has an equality operator; a future `json` column would need one.)
-- 2. The index on `create_time` is gone: pruning takes the oldest changes
--    in the primary key's order (transactions in the order they began
--    writing, which is the order of their times but for a transaction held
--    open) and deletes those past the retention, so no write maintains an
--    index for it.
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
        kind := CASE
            WHEN OLD.delete_time IS NULL AND NEW.delete_time IS NOT NULL THEN 'deleted'
            WHEN OLD.delete_time IS NOT NULL AND NEW.delete_time IS NULL THEN 'undeleted'
            ELSE 'updated'
        END;
        -- Nothing a watcher sees changed: no change.
        OLD.registration_access_hash := NEW.registration_access_hash;
        OLD.name_key := NEW.name_key;
        OLD.visual_key := NEW.visual_key;
        OLD.name_keys_version := NEW.name_keys_version;
        IF OLD IS NOT DISTINCT FROM NEW THEN
            RETURN NULL;
        END IF;
        PERFORM oauth_apps_feed_record(NEW.organization_id, NEW.id, kind,
                                       oauth_apps_feed_snapshot(NEW));
    END IF;
    RETURN NULL;
END
$$;

DROP INDEX application_changes_time;
