-- Each connection keeps its app's client secret next to its tokens, so connections of
-- different apps can run side by side. Like the tokens it is stored sealed
-- ("seal:v1:<key id>:…", AES-256-GCM) when an encryption key is configured, and as
-- plaintext otherwise; '' means not stored.

-- +goose Up
ALTER TABLE exact_sync.connections ADD COLUMN client_secret text NOT NULL DEFAULT '';
