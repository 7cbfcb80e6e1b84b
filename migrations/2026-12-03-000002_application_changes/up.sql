-- The change feed's outbox (WatchApplications; src/store/changes.rs explains
-- how it is read). Every change to an application is recorded here by a
-- trigger, in the transaction that makes it: committed together or not at
-- all. Triggers rather than the store's functions, so that a change made by
-- the CLI or by a DBA with psql is in the feed too; only a session with
-- `session_replication_role = replica` bypasses them (as it bypasses the
-- cache's notifications).
--
-- `xid` is the writing transaction's id and `pos` orders a transaction's
-- own changes; a reader takes rows in (xid, pos) order and only below the
-- oldest transaction still running, so a transaction that commits late is
-- never skipped.
--
-- `application` is the application's state right after the change, as
-- JSON, so that a watcher gets the state that change made (not whatever
-- the application has become by delivery time), and so that a hard DELETE
-- can still be described. It never holds a secret or a hash: the
-- registration access hash is removed, and of the client secret only its
-- hint is kept, as GetApplication shows it.
CREATE TABLE application_changes (
    xid             xid8 NOT NULL DEFAULT pg_current_xact_id(),
    pos             BIGSERIAL NOT NULL,
    organization_id TEXT NOT NULL,
    application_id  TEXT NOT NULL,
    change_type     TEXT NOT NULL CHECK (change_type IN
                        ('created', 'updated', 'deleted', 'undeleted', 'secret_rotated')),
    application     JSONB NOT NULL,
    create_time     TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (xid, pos)
);
-- An organization's stream catching up, and the per-application order check.
CREATE INDEX application_changes_org ON application_changes (organization_id, xid, pos);
CREATE INDEX application_changes_app ON application_changes (application_id, xid);
-- Pruning past the retention.
CREATE INDEX application_changes_time ON application_changes (create_time);

-- An application's state as a watcher may see it: no hash, the current
-- secret's hint.
CREATE FUNCTION oauth_apps_feed_snapshot(app applications) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT (to_jsonb(app) - 'registration_access_hash')
        || jsonb_build_object('secret_hint',
               (SELECT hint FROM client_secrets
                WHERE application_id = app.id AND slot = 'current'))
$$;

-- Records one change, in the writing transaction.
--
-- Order per application: the feed delivers in (xid, pos) order, and xids
-- are handed out in the order transactions first write. A transaction that
-- took its xid earlier (writing something else) could otherwise change an
-- application after a later-xid transaction changed and committed it, and
-- a watcher would get the two in the wrong order and keep the stale state.
-- That write is refused as a serialization failure (40001, retry): the row
-- lock it holds proves the other change committed first, so the check
-- cannot race. The service's own writes lock the application first and
-- never meet it.
CREATE FUNCTION oauth_apps_feed_record(org TEXT, app_id TEXT, kind TEXT, snapshot JSONB)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    mine xid8 := pg_current_xact_id();
BEGIN
    IF EXISTS (SELECT 1 FROM application_changes
               WHERE application_id = app_id AND xid > mine) THEN
        RAISE EXCEPTION 'application % was changed by a transaction that committed after this one began writing; retry', app_id
            USING ERRCODE = '40001';
    END IF;
    INSERT INTO application_changes (organization_id, application_id, change_type, application)
    VALUES (org, app_id, kind, snapshot);
    -- Only a wake-up for the replicas' readers (identical notifications of
    -- one transaction are sent once, at commit), and not for a new
    -- application: PostgreSQL commits notifying transactions one at a time
    -- (a cluster-wide lock held through the commit's WAL flush), which
    -- would cap creates and registrations at a few hundred a second. A
    -- change to an existing application notifies anyway (its cache
    -- invalidation); a new one reaches watchers by the readers' poll
    -- (every 500 ms), within the second the contract allows.
    IF kind <> 'created' THEN
        PERFORM pg_notify('oauth_apps_changes', '');
    END IF;
END
$$;

CREATE FUNCTION oauth_apps_feed_application() RETURNS trigger
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

-- A new current secret. When the same transaction already recorded a change
-- of the application (its creation, or the revision bump of a rotation),
-- that change is completed (the new hint; an update becomes the rotation)
-- rather than a second one recorded.
CREATE FUNCTION oauth_apps_feed_secret() RETURNS trigger
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

CREATE TRIGGER applications_feed AFTER INSERT OR UPDATE OR DELETE ON applications
    FOR EACH ROW EXECUTE FUNCTION oauth_apps_feed_application();
CREATE TRIGGER client_secrets_feed AFTER INSERT OR UPDATE ON client_secrets
    FOR EACH ROW EXECUTE FUNCTION oauth_apps_feed_secret();
