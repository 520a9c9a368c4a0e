-- Integrity (docs/ARCHITECTURE.md §8). Signed checkpoints of the hash chains, and re-delivered records: when a
-- client or the pipeline delivers an already stored record again, the governance processor chains it again (a new
-- chain_seq, and e.g. another received_at); ON CONFLICT keeps the stored row in audit_logs, and the re-delivered copy
-- is kept whole in <table>_redeliveries so that its chain stays gapless and verifiable.
CREATE TABLE {{.checkpoints}} (
    chain_id   text        NOT NULL,
    tenant_id  text        NOT NULL,
    last_seq   bigint      NOT NULL,
    last_hash  text        NOT NULL,
    key_id     text        NOT NULL,
    signed_at  timestamptz NOT NULL,
    signature  text        NOT NULL,
    stored_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT {{.checkpoints}}_pkey PRIMARY KEY (chain_id, last_seq)
);
CREATE INDEX {{.checkpoints}}_tenant_idx ON {{.checkpoints}} (tenant_id, signed_at);

CREATE TABLE {{.table}}_redeliveries (LIKE {{.table}} INCLUDING DEFAULTS);
ALTER TABLE {{.table}}_redeliveries ADD CONSTRAINT {{.table}}_redeliveries_pkey PRIMARY KEY (chain_id, chain_seq);

CREATE INDEX {{.table}}_chain_idx ON {{.table}} (chain_id, chain_seq) WHERE chain_id IS NOT NULL;

CREATE TRIGGER {{.checkpoints}}_immutable BEFORE UPDATE OR DELETE ON {{.checkpoints}}
    FOR EACH ROW EXECUTE FUNCTION {{.table}}_refuse_change();
CREATE TRIGGER {{.checkpoints}}_no_truncate BEFORE TRUNCATE ON {{.checkpoints}}
    FOR EACH STATEMENT EXECUTE FUNCTION {{.table}}_refuse_change();
CREATE TRIGGER {{.table}}_redeliveries_immutable BEFORE UPDATE OR DELETE ON {{.table}}_redeliveries
    FOR EACH ROW EXECUTE FUNCTION {{.table}}_refuse_change();
CREATE TRIGGER {{.table}}_redeliveries_no_truncate BEFORE TRUNCATE ON {{.table}}_redeliveries
    FOR EACH STATEMENT EXECUTE FUNCTION {{.table}}_refuse_change();
