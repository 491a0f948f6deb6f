-- Staff sign in to the console with Kratos accounts of the staff schema;
-- what each may do is granted here, by `cdp staff grant`, never taken from
-- traits they can edit. Ids only: the email lives in Kratos.
CREATE TABLE staff (
    kratos_identity uuid        PRIMARY KEY,
    department      text        NOT NULL CHECK (department ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    roles           text[]      NOT NULL CHECK (cardinality(roles) > 0),
    granted_by      text        NOT NULL,
    granted_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz
);
REVOKE DELETE ON staff FROM cdp_app;
