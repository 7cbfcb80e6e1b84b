-- Every committed change to a membership is announced on a channel, so that
-- every replica drops what it cached about that member at once, whoever made
-- the change (the CLI, another replica, a DBA with psql).
CREATE FUNCTION oauth_apps_membership_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('oauth_apps_memberships', '*');
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM pg_notify('oauth_apps_memberships', OLD.organization_id || E'\n' || OLD.user_id);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM pg_notify('oauth_apps_memberships', NEW.organization_id || E'\n' || NEW.user_id);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER memberships_changed
    AFTER INSERT OR UPDATE OR DELETE ON memberships
    FOR EACH ROW EXECUTE FUNCTION oauth_apps_membership_changed();

CREATE TRIGGER memberships_truncated
    AFTER TRUNCATE ON memberships
    FOR EACH STATEMENT EXECUTE FUNCTION oauth_apps_membership_changed();
