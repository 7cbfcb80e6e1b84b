// Diesel table definitions, kept in step with migrations/ by hand (the
// project builds without the diesel CLI).

diesel::table! {
    memberships (organization_id, user_id) {
        organization_id -> Text,
        user_id -> Text,
        role -> Text,
        create_time -> Timestamptz,
        update_time -> Timestamptz,
    }
}

diesel::table! {
    applications (id) {
        id -> Text,
        organization_id -> Text,
        name -> Text,
        description -> Text,
        app_type -> Text,
        redirect_uris -> Array<Text>,
        scopes -> Array<Text>,
        client_id -> Text,
        active -> Bool,
        first_party -> Bool,
        created_by -> Text,
        create_time -> Timestamptz,
        update_time -> Timestamptz,
        delete_time -> Nullable<Timestamptz>,
        revision -> Int8,
        name_key -> Nullable<Text>,
        visual_key -> Nullable<Text>,
        name_keys_version -> Nullable<Int2>,
        grant_types -> Array<Text>,
        token_endpoint_auth_method -> Text,
        jwks -> Nullable<Text>,
        client_uri -> Text,
        logo_uri -> Text,
        policy_uri -> Text,
        tos_uri -> Text,
        contacts -> Array<Text>,
        dynamically_registered -> Bool,
        registration_access_hash -> Nullable<Bytea>,
    }
}

diesel::table! {
    client_secrets (application_id, slot) {
        application_id -> Text,
        slot -> Text,
        secret_hash -> Text,
        hint -> Text,
        create_time -> Timestamptz,
        expire_time -> Nullable<Timestamptz>,
        checksummed -> Bool,
    }
}

diesel::table! {
    assertion_jtis (client_id, jti) {
        client_id -> Text,
        jti -> Text,
        expire_time -> Timestamptz,
    }
}

diesel::table! {
    service_settings (name) {
        name -> Text,
        value -> Bytea,
    }
}

diesel::table! {
    registration_tokens (id) {
        id -> Text,
        organization_id -> Text,
        token_hash -> Bytea,
        description -> Text,
        created_by -> Text,
        create_time -> Timestamptz,
        expire_time -> Timestamptz,
        max_registrations -> Int4,
        registrations_used -> Int4,
        revoke_time -> Nullable<Timestamptz>,
    }
}

diesel::joinable!(client_secrets -> applications (application_id));
diesel::allow_tables_to_appear_in_same_query!(
    memberships,
    applications,
    client_secrets,
    service_settings,
    assertion_jtis,
    registration_tokens
);

diesel::table! {
    audit_events (id) {
        id -> Int8,
        organization_id -> Text,
        application_id -> Text,
        actor -> Text,
        action -> Text,
        changed_fields -> Array<Text>,
        details -> Text,
        create_time -> Timestamptz,
    }
}

// `application_changes` (the change feed's outbox) has no table here: its
// `xid8` column has no Diesel type, and `store::changes` reads it with SQL
// of its own.
