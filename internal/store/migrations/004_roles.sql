-- Roles and retention (README "Roles and privileges", issue 17 finding 1). This migration creates no role and grants
-- nothing to a named role: `govctl db init` creates the owner, writer, reader and maintenance roles, runs the
-- migrations as the owner, hands the two retention functions below to the maintenance role and grants each role its
-- privileges. What the migration does is make those privileges mean something:
--
--  * The append-only trigger no longer opens DELETE to a session setting anyone can SET. A DELETE passes only when
--    the statement runs as the role that owns {{.table}}_retention_delete (current_user inside that SECURITY DEFINER
--    function) and the function has set its transaction-local flag. In the split setup that role is the NOLOGIN
--    maintenance role; no session can become it, so the function is the only path. Checkpoints are never deleted.
--  * Retention deletes only what the policy in {{.table}}_retention_policy (written by the owner only) allows: the
--    caller names a category and a cutoff, and a cutoff younger than the category's policy is refused. Every
--    deletion writes, per chain, a row of {{.table}}_retention_markers (integrity.RetentionMarker) in the same
--    transaction; the collector signs it with {{.table}}_retention_sign before committing.
--  * Partitions are created by {{.table}}_ensure_partitions as its owner (SECURITY DEFINER), so a writer that may
--    not create tables can still keep them ahead.

-- Retention policy: a category (request_type prefix, longest wins, '' = every request type) may lose records older
-- than days days. A request type no category matches is kept forever. Only the owner writes this table.
CREATE TABLE {{.table}}_retention_policy (
    category   text        NOT NULL PRIMARY KEY,
    days       int         NOT NULL CHECK (days >= 1),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Retention markers (integrity.RetentionMarker): every chain range a retention deletion touched. Written only by
-- {{.table}}_retention_delete; key_id and signature are set once, by {{.table}}_retention_sign.
CREATE TABLE {{.table}}_retention_markers (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id  text        NOT NULL,
    chain_id   text        NOT NULL,
    from_seq   bigint      NOT NULL,
    to_seq     bigint      NOT NULL,
    count      bigint      NOT NULL,
    category   text        NOT NULL,
    reason     text        NOT NULL,
    cutoff     timestamptz NOT NULL,
    deleted_at timestamptz NOT NULL,
    key_id     text        NOT NULL DEFAULT '',
    signature  text        NOT NULL DEFAULT '',
    stored_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT {{.table}}_retention_markers_range_check
        CHECK (from_seq >= 1 AND to_seq >= from_seq AND count >= 1 AND count <= to_seq - from_seq + 1)
);
CREATE INDEX {{.table}}_retention_markers_chain_idx ON {{.table}}_retention_markers (chain_id, from_seq);
CREATE INDEX {{.table}}_retention_markers_tenant_idx ON {{.table}}_retention_markers (tenant_id, deleted_at);

-- The role allowed to delete: the owner of the retention function in the schema of the table being changed (never
-- looked up through the caller's search_path).
CREATE FUNCTION {{.table}}_retention_role(schema name) RETURNS name LANGUAGE sql STABLE AS $fn$
    SELECT r.rolname FROM pg_proc p JOIN pg_roles r ON r.oid = p.proowner
    WHERE p.oid = to_regprocedure(format('%I.{{.table}}_retention_delete(text,timestamptz,integer)', schema))
$fn$;

-- The append-only trigger, replaced: DELETE only as the retention function's owner with its flag set (the flag
-- alone, which any session can set, opens nothing), and only of records (the partitions of {{.table}} and the
-- re-deliveries), never of checkpoints or anything else the trigger guards; UPDATE and TRUNCATE never.
CREATE OR REPLACE FUNCTION {{.table}}_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'DELETE'
        AND (TG_TABLE_NAME IN ('{{.table}}_default', '{{.table}}_redeliveries') OR TG_TABLE_NAME ~ '^{{.table}}_p[0-9]{6}$')
        AND current_setting('govcol.retention', true) = 'on'
        AND current_user = {{.table}}_retention_role(TG_TABLE_SCHEMA) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION '% on %: audit records are immutable (rows leave only through retention)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$fn$;

-- Markers: only the signature (once, as the signing function's owner) may change; never deleted.
CREATE FUNCTION {{.table}}_retention_markers_guard() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'UPDATE' AND current_setting('govcol.retention', true) = 'on'
        AND current_user = {{.table}}_retention_role(TG_TABLE_SCHEMA)
        AND OLD.signature = '' AND OLD.key_id = ''
        AND (NEW.id, NEW.tenant_id, NEW.chain_id, NEW.from_seq, NEW.to_seq, NEW.count, NEW.category, NEW.reason,
             NEW.cutoff, NEW.deleted_at, NEW.stored_at)
            IS NOT DISTINCT FROM (OLD.id, OLD.tenant_id, OLD.chain_id, OLD.from_seq, OLD.to_seq, OLD.count,
             OLD.category, OLD.reason, OLD.cutoff, OLD.deleted_at, OLD.stored_at) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '% on %: retention markers are immutable', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$fn$;
CREATE TRIGGER {{.table}}_retention_markers_immutable BEFORE UPDATE OR DELETE ON {{.table}}_retention_markers
    FOR EACH ROW EXECUTE FUNCTION {{.table}}_retention_markers_guard();
CREATE TRIGGER {{.table}}_retention_markers_no_truncate BEFORE TRUNCATE ON {{.table}}_retention_markers
    FOR EACH STATEMENT EXECUTE FUNCTION {{.table}}_refuse_change();

-- The old retention function opened DELETE through the session flag alone; it is replaced by the one below.
DROP FUNCTION {{.table}}_retention_delete(text, text[], timestamptz, int);

-- Retention: deletes at most batch records of category older than cutoff (with their re-delivered copies), the
-- longer categories of the policy excluded, and writes one unsigned marker per chain touched (count: the distinct
-- sequence numbers removed; rows without a valid chain position were never part of a chain and get no marker, so a
-- forged row can never make the marker invalid and block retention). Refuses a category
-- without a policy and a cutoff younger than its policy. Returns the number of audit_logs rows deleted and the ids
-- of the markers written, which the caller signs with {{.table}}_retention_sign in the same transaction.
CREATE FUNCTION {{.table}}_retention_delete(prefix text, cutoff timestamptz, batch int,
    OUT deleted bigint, OUT marker_ids bigint[])
LANGUAGE plpgsql SECURITY DEFINER AS $fn$
DECLARE
    keep int;
    longer text[];
BEGIN
    SELECT p.days INTO keep FROM {{.table}}_retention_policy p WHERE p.category = prefix;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'retention: no policy for category "%" (its records are kept)', prefix
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF cutoff IS NULL OR cutoff > now() - make_interval(days => keep) THEN
        RAISE EXCEPTION 'retention: cutoff % is younger than the policy of category "%" (% days)', cutoff, prefix, keep
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF batch IS NULL OR batch < 1 OR batch > 1000000 THEN
        RAISE EXCEPTION 'retention: batch must be between 1 and 1000000' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    longer := ARRAY(SELECT p.category FROM {{.table}}_retention_policy p
                    WHERE p.category <> prefix AND p.category ^@ prefix);
    PERFORM set_config('govcol.retention', 'on', true);
    WITH victims AS (
        SELECT a.id, a."timestamp" FROM {{.table}} a
        WHERE a."timestamp" < cutoff AND a.request_type ^@ prefix AND NOT (a.request_type ^@ ANY (longer))
        ORDER BY a."timestamp" LIMIT batch
    ), d AS (
        DELETE FROM {{.table}} a USING victims v WHERE a.id = v.id AND a."timestamp" = v."timestamp"
        RETURNING a.tenant_id, a.chain_id, a.chain_seq
    ), r AS (
        DELETE FROM {{.table}}_redeliveries a USING victims v WHERE a.id = v.id AND a."timestamp" = v."timestamp"
        RETURNING a.tenant_id, a.chain_id, a.chain_seq
    ), m AS (
        INSERT INTO {{.table}}_retention_markers
            (tenant_id, chain_id, from_seq, to_seq, count, category, reason, cutoff, deleted_at)
        SELECT x.tenant_id, x.chain_id, min(x.chain_seq), max(x.chain_seq), count(DISTINCT x.chain_seq), prefix,
               'retention', {{.table}}_retention_delete.cutoff, now()
        FROM (SELECT * FROM d UNION ALL SELECT * FROM r) x
        WHERE x.chain_id IS NOT NULL AND x.chain_seq >= 1
        GROUP BY x.tenant_id, x.chain_id
        RETURNING id
    )
    SELECT (SELECT count(*) FROM d), coalesce((SELECT array_agg(m.id ORDER BY m.id) FROM m), '{}')
        INTO deleted, marker_ids;
    PERFORM set_config('govcol.retention', 'off', true);
END
$fn$;

-- Signs a marker written by {{.table}}_retention_delete: sets key_id and signature once.
CREATE FUNCTION {{.table}}_retention_sign(marker bigint, signing_key_id text, sig text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER AS $fn$
BEGIN
    IF coalesce(signing_key_id, '') = '' OR coalesce(sig, '') = '' THEN
        RAISE EXCEPTION 'retention: empty key id or signature' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM set_config('govcol.retention', 'on', true);
    UPDATE {{.table}}_retention_markers m SET key_id = signing_key_id, signature = sig
        WHERE m.id = marker AND m.signature = '';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'retention: marker % does not exist or is signed already', marker
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    PERFORM set_config('govcol.retention', 'off', true);
END
$fn$;

-- Partitions: created as the function's owner, so the writer may keep them ahead without owning the table; at most
-- 48 months per call.
CREATE OR REPLACE FUNCTION {{.table}}_ensure_partitions(first date, months int) RETURNS int
LANGUAGE plpgsql SECURITY DEFINER AS $fn$
DECLARE
    m date;
    part text;
    created int := 0;
BEGIN
    IF months IS NULL OR months < 0 OR months > 48 THEN
        RAISE EXCEPTION 'ensure_partitions: months must be between 0 and 48' USING ERRCODE = 'invalid_parameter_value';
    END IF;
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

-- SECURITY DEFINER and trigger functions run with a fixed search_path (pg_catalog implicitly first, this schema, pg_temp last),
-- never the caller's.
DO $do$
BEGIN
    EXECUTE format('ALTER FUNCTION {{.table}}_retention_delete(text, timestamptz, int) SET search_path = %I, pg_temp', current_schema());
    EXECUTE format('ALTER FUNCTION {{.table}}_retention_sign(bigint, text, text) SET search_path = %I, pg_temp', current_schema());
    EXECUTE format('ALTER FUNCTION {{.table}}_ensure_partitions(date, int) SET search_path = %I, pg_temp', current_schema());
    EXECUTE format('ALTER FUNCTION {{.table}}_retention_role(name) SET search_path = %I, pg_temp', current_schema());
    -- The trigger functions too: the role check must never resolve through the deleting session's search_path.
    EXECUTE format('ALTER FUNCTION {{.table}}_refuse_change() SET search_path = %I, pg_temp', current_schema());
    EXECUTE format('ALTER FUNCTION {{.table}}_retention_markers_guard() SET search_path = %I, pg_temp', current_schema());
END
$do$;

-- Functions are executable by PUBLIC by default: only the roles `govctl db init` names may call these.
REVOKE EXECUTE ON FUNCTION {{.table}}_retention_delete(text, timestamptz, int) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION {{.table}}_retention_sign(bigint, text, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION {{.table}}_ensure_partitions(date, int) FROM PUBLIC;
