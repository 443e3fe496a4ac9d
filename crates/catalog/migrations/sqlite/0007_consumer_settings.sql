-- Storage consumer settings per portal (POST settings/authservice): `props` is a JSON object
-- of property names to values, secret values sealed by the service before they get here.
CREATE TABLE consumer_settings (
    portal_id INTEGER NOT NULL REFERENCES portals(id) ON DELETE CASCADE,
    name      TEXT NOT NULL,
    props     TEXT NOT NULL,
    PRIMARY KEY (portal_id, name)
);
