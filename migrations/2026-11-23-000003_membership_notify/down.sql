DROP TRIGGER memberships_truncated ON memberships;
DROP TRIGGER memberships_changed ON memberships;
DROP FUNCTION oauth_apps_membership_changed();
