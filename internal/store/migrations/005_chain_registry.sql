-- The chain registry (internal/integrity/README.md, "Chain registry and crash sealing"). One signed row per chain
-- opened by a collector run (kind 'opened', seq 0, link = the chain the same instance opened before it), and one
-- per seal a later run of the same instance signed over a crashed run's stored tail (kind 'sealed', seq = the last
-- stored record it vouches for, link = that record's hash, lost = the sequence numbers that never arrived). Rows
-- are written by the governance processor (integrity.postgres_dsn) and read by `govctl verify`; append-only like the
-- rest of the trail.
CREATE TABLE {{.table}}_chains (
    chain_id  text        NOT NULL,
    kind      text        NOT NULL CHECK (kind IN ('opened', 'sealed')),
    seq       bigint      NOT NULL,
    tenant_id text        NOT NULL,
    instance  text        NOT NULL,
    link      text        NOT NULL,
    lost      text        NOT NULL DEFAULT '',
    sealed_by text        NOT NULL DEFAULT '',
    signed_at timestamptz NOT NULL,
    key_id    text        NOT NULL,
    signature text        NOT NULL,
    stored_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT {{.table}}_chains_pkey PRIMARY KEY (chain_id, kind, seq)
);
CREATE INDEX {{.table}}_chains_instance_idx ON {{.table}}_chains (instance, signed_at);

-- Verify counts records without a chain (chain_id NULL: never stored by the governance processor's chain); this
-- partial index, normally empty, spares it a scan of the whole table.
CREATE INDEX {{.table}}_unchained_idx ON {{.table}} (tenant_id) WHERE chain_id IS NULL;

CREATE TRIGGER {{.table}}_chains_immutable BEFORE UPDATE OR DELETE ON {{.table}}_chains
    FOR EACH ROW EXECUTE FUNCTION {{.table}}_refuse_change();
CREATE TRIGGER {{.table}}_chains_no_truncate BEFORE TRUNCATE ON {{.table}}_chains
    FOR EACH STATEMENT EXECUTE FUNCTION {{.table}}_refuse_change();
