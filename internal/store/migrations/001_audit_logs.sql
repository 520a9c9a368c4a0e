-- The audit_logs table (docs/ARCHITECTURE.md §5), partitioned by month on "timestamp". The primary key includes the
-- partition key, as Postgres requires; id alone is globally unique (the processor derives it from tenant, time and
-- event), so (id, timestamp) is the idempotency key of INSERT ... ON CONFLICT DO NOTHING.
CREATE TABLE {{.table}} (
    id               text        NOT NULL,
    decision_id      uuid        NOT NULL,
    "timestamp"      timestamptz NOT NULL,
    received_at      timestamptz NOT NULL,
    request_id       text,
    correlation_id   text,
    trace_id         text,
    span_id          text,
    request_type     text        NOT NULL,
    plane            text        NOT NULL,
    origin           text        NOT NULL,
    org_id           text        NOT NULL,
    tenant_id        text        NOT NULL,
    client_id        text        NOT NULL,
    user_email       text        NOT NULL,
    identity_source  text        NOT NULL,
    user_id          text,
    session_id       text,
    policy_decision  text        NOT NULL,
    policy_details   jsonb       NOT NULL,
    obligations      jsonb       NOT NULL,
    pii_types        text[]      NOT NULL,
    redacted_fields  text[]      NOT NULL,
    query            text,
    response_sample  text,
    query_hash       text,
    provider         text,
    model            text,
    tool_name        text,
    response_time_ms bigint,
    input_tokens     bigint,
    output_tokens    bigint,
    tokens_used      bigint,
    cost             double precision,
    compliance_flags jsonb       NOT NULL,
    security_metrics jsonb       NOT NULL,
    metadata         jsonb       NOT NULL,
    chain_id         text,
    chain_seq        bigint,
    prev_hash        text,
    record_hash      text,
    CONSTRAINT {{.table}}_pkey PRIMARY KEY (id, "timestamp"),
    CONSTRAINT {{.table}}_policy_decision_check
        CHECK (policy_decision IN ('allowed', 'blocked', 'redacted', 'needs_approval', 'error'))
) PARTITION BY RANGE ("timestamp");

-- Rows whose month has no partition (far past or future clocks) land here rather than failing the batch.
CREATE TABLE {{.table}}_default PARTITION OF {{.table}} DEFAULT;

-- Read paths: time ranges, a tenant's trail, a developer, Claude Code's request id, the SIEM join key, verdicts,
-- and sessions (partial: most SDK records have none).
CREATE INDEX {{.table}}_timestamp_idx ON {{.table}} ("timestamp");
CREATE INDEX {{.table}}_tenant_timestamp_idx ON {{.table}} (tenant_id, "timestamp");
CREATE INDEX {{.table}}_user_email_idx ON {{.table}} (user_email);
CREATE INDEX {{.table}}_request_id_idx ON {{.table}} (request_id);
CREATE INDEX {{.table}}_decision_id_idx ON {{.table}} (decision_id);
CREATE INDEX {{.table}}_policy_decision_idx ON {{.table}} (policy_decision);
CREATE INDEX {{.table}}_session_id_idx ON {{.table}} (session_id) WHERE session_id IS NOT NULL;

-- Append-only: UPDATE, DELETE and TRUNCATE are refused. Rows leave only through {{.table}}_retention_delete, which
-- sets the transaction-local flag govcol.retention. This guards against application bugs and casual edits; a
-- superuser can still disable triggers, which is what the integrity chain (record_hash) detects.
CREATE FUNCTION {{.table}}_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('govcol.retention', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION '% on %: audit records are immutable (rows leave only through retention)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$fn$;

CREATE TRIGGER {{.table}}_immutable BEFORE UPDATE OR DELETE ON {{.table}}
    FOR EACH ROW EXECUTE FUNCTION {{.table}}_refuse_change();
CREATE TRIGGER {{.table}}_no_truncate BEFORE TRUNCATE ON {{.table}}
    FOR EACH STATEMENT EXECUTE FUNCTION {{.table}}_refuse_change();
CREATE TRIGGER {{.table}}_no_truncate BEFORE TRUNCATE ON {{.table}}_default
    FOR EACH STATEMENT EXECUTE FUNCTION {{.table}}_refuse_change();

-- Monthly partitions [first, first + months). Several collectors may call it at once: an advisory lock serialises
-- them. A month whose rows already sit in the default partition cannot get its own partition; it is skipped with a
-- notice (its rows stay in the default partition, still queryable and still subject to retention).
CREATE FUNCTION {{.table}}_ensure_partitions(first date, months int) RETURNS int LANGUAGE plpgsql AS $fn$
DECLARE
    m date;
    part text;
    created int := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('{{.table}}_partitions'));
    FOR i IN 0 .. months - 1 LOOP
        m := (date_trunc('month', first) + make_interval(months => i))::date;
        part := '{{.table}}_p' || to_char(m, 'YYYYMM');
        CONTINUE WHEN to_regclass(part) IS NOT NULL;
        BEGIN
            EXECUTE format('CREATE TABLE %I PARTITION OF {{.table}} FOR VALUES FROM (%L) TO (%L)',
                part, to_char(m, 'YYYY-MM-DD') || ' 00:00:00+00',
                to_char(m + interval '1 month', 'YYYY-MM-DD') || ' 00:00:00+00');
            EXECUTE format('CREATE TRIGGER {{.table}}_no_truncate BEFORE TRUNCATE ON %I
                FOR EACH STATEMENT EXECUTE FUNCTION {{.table}}_refuse_change()', part);
            created := created + 1;
        EXCEPTION WHEN check_violation THEN
            RAISE NOTICE 'partition % not created: the default partition holds rows of that month', part;
        END;
    END LOOP;
    RETURN created;
END
$fn$;

-- Retention: deletes at most batch rows older than cutoff whose request_type starts with prefix and with none of
-- the longer prefixes in excluded (they have their own retention). Returns the number deleted.
CREATE FUNCTION {{.table}}_retention_delete(prefix text, excluded text[], cutoff timestamptz, batch int)
RETURNS bigint LANGUAGE plpgsql AS $fn$
DECLARE
    n bigint;
BEGIN
    PERFORM set_config('govcol.retention', 'on', true);
    DELETE FROM {{.table}} WHERE (id, "timestamp") IN (
        SELECT id, "timestamp" FROM {{.table}}
        WHERE "timestamp" < cutoff AND request_type ^@ prefix AND NOT (request_type ^@ ANY (excluded))
        LIMIT batch);
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM set_config('govcol.retention', 'off', true);
    RETURN n;
END
$fn$;
