-- Every committed change to an application or its secrets is announced, so
-- that each replica drops what it cached about that application at once,
-- whoever made the change (another replica, a DBA with psql). Payload:
-- `id\nclient_id`. Statement triggers over transition tables send one
-- notification per application a statement touched, or a single `*` (drop
-- everything) when it touched more than 100, which would otherwise flood
-- the notification queue. A new application is in no cache yet: its
-- insertion announces nothing.
CREATE FUNCTION oauth_apps_announce(touched TEXT[], client_ids TEXT[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF cardinality(touched) > 100 THEN
        PERFORM pg_notify('oauth_apps_applications', '*');
        RETURN;
    END IF;
    FOR i IN 1 .. coalesce(cardinality(touched), 0) LOOP
        PERFORM pg_notify('oauth_apps_applications', touched[i] || E'\n' || client_ids[i]);
    END LOOP;
END
$$;

CREATE FUNCTION oauth_apps_applications_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    ids TEXT[];
    client_ids TEXT[];
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('oauth_apps_applications', '*');
        RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE' THEN
        SELECT array_agg(id), array_agg(client_id) INTO ids, client_ids FROM old_rows;
    ELSE
        SELECT array_agg(id), array_agg(client_id) INTO ids, client_ids FROM new_rows;
    END IF;
    PERFORM oauth_apps_announce(ids, client_ids);
    RETURN NULL;
END
$$;

CREATE FUNCTION oauth_apps_client_secrets_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    ids TEXT[];
    client_ids TEXT[];
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('oauth_apps_applications', '*');
        RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE' THEN
        SELECT array_agg(a.id), array_agg(a.client_id) INTO ids, client_ids
        FROM (SELECT DISTINCT application_id FROM old_rows) s
        JOIN applications a ON a.id = s.application_id;
    ELSE
        SELECT array_agg(a.id), array_agg(a.client_id) INTO ids, client_ids
        FROM (SELECT DISTINCT application_id FROM new_rows) s
        JOIN applications a ON a.id = s.application_id;
    END IF;
    PERFORM oauth_apps_announce(ids, client_ids);
    RETURN NULL;
END
$$;

CREATE TRIGGER applications_updated AFTER UPDATE ON applications
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION oauth_apps_applications_changed();
CREATE TRIGGER applications_deleted AFTER DELETE ON applications
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION oauth_apps_applications_changed();
CREATE TRIGGER applications_truncated AFTER TRUNCATE ON applications
    FOR EACH STATEMENT EXECUTE FUNCTION oauth_apps_applications_changed();

CREATE TRIGGER client_secrets_inserted AFTER INSERT ON client_secrets
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION oauth_apps_client_secrets_changed();
CREATE TRIGGER client_secrets_updated AFTER UPDATE ON client_secrets
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION oauth_apps_client_secrets_changed();
CREATE TRIGGER client_secrets_deleted AFTER DELETE ON client_secrets
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION oauth_apps_client_secrets_changed();
CREATE TRIGGER client_secrets_truncated AFTER TRUNCATE ON client_secrets
    FOR EACH STATEMENT EXECUTE FUNCTION oauth_apps_client_secrets_changed();
