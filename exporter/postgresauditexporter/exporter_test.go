package postgresauditexporter

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/govcol/govcol/exporter/postgresauditexporter/internal/metadatatest"
	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/pgtest"
)

func TestSchemaMigrationsAndIndexes(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	startExporter(t, testConfig(t, dsn), nil)

	assert.EqualValues(t, migrationCount(t), queryInt(t, dsn, "SELECT version FROM audit_logs_schema_version"))
	assert.EqualValues(t, 1, queryInt(t, dsn, "SELECT count(*) FROM pg_partitioned_table pt JOIN pg_class c ON c.oid = pt.partrelid WHERE c.relname = 'audit_logs'"))
	// Partitions from last month to three months ahead, plus the default one.
	assert.EqualValues(t, 6, queryInt(t, dsn, "SELECT count(*) FROM pg_inherits WHERE inhparent = 'audit_logs'::regclass"))
	month := "audit_logs_p" + time.Now().UTC().Format("200601")
	assert.EqualValues(t, 1, queryInt(t, dsn, "SELECT count(*) FROM pg_class WHERE relname = $1", month))

	idx := map[string]string{}
	rows, err := connect(t, dsn).Query(context.Background(), "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'audit_logs'")
	require.NoError(t, err)
	for rows.Next() {
		var n, d string
		require.NoError(t, rows.Scan(&n, &d))
		idx[n] = d
	}
	require.NoError(t, rows.Err())
	for _, name := range []string{"audit_logs_pkey", "audit_logs_timestamp_idx", "audit_logs_tenant_timestamp_idx",
		"audit_logs_user_email_idx", "audit_logs_request_id_idx", "audit_logs_decision_id_idx",
		"audit_logs_policy_decision_idx", "audit_logs_session_id_idx"} {
		assert.Contains(t, idx, name)
	}
	assert.Contains(t, idx["audit_logs_session_id_idx"], "WHERE (session_id IS NOT NULL)")

	// The check constraint refuses an unknown verdict.
	_, err = connect(t, dsn).Exec(context.Background(), `INSERT INTO audit_logs (id, decision_id, "timestamp", received_at,
		request_type, plane, origin, org_id, tenant_id, client_id, user_email, identity_source, policy_decision,
		policy_details, obligations, pii_types, redacted_fields, compliance_flags, security_metrics, metadata)
		VALUES ('x', gen_random_uuid(), now(), now(), 'r', 'p', 'o', 'org', 't', 'c', 'u', 'license', 'maybe',
		'{}', '[]', '{}', '{}', '{}', '{}', '{}')`)
	requireSQLState(t, err, "23514")

	// A second start (another collector, a restart) finds the schema current.
	startExporter(t, testConfig(t, dsn), nil)
	assert.EqualValues(t, migrationCount(t), queryInt(t, dsn, "SELECT version FROM audit_logs_schema_version"))
}

func requireSQLState(t *testing.T, err error, code string) *pgconn.PgError {
	t.Helper()
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	require.Equal(t, code, pgErr.Code, pgErr.Message)
	return pgErr
}

func TestWritesGovernedRecordsIdempotently(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	e := startExporter(t, testConfig(t, dsn), tel)
	ld := governed(t, "tenant-a")
	n := ld.LogRecordCount()
	require.Equal(t, 11, n)

	ctx := context.Background()
	require.NoError(t, e.pushLogs(ctx, ld))
	require.NoError(t, e.pushLogs(ctx, ld)) // a retry of the same batch
	twice := plog.NewLogs()
	ld.ResourceLogs().CopyTo(twice.ResourceLogs())
	ld.ResourceLogs().MoveAndAppendTo(twice.ResourceLogs()) // the same records twice in one batch
	require.NoError(t, e.pushLogs(ctx, twice))

	assert.EqualValues(t, n, queryInt(t, dsn, "SELECT count(*) FROM audit_logs"))
	assert.EqualValues(t, n, queryInt(t, dsn, "SELECT count(DISTINCT id) FROM audit_logs"))
	metadatatest.AssertEqualPostgresauditRowsWritten(t, tel, []metricdata.DataPoint[int64]{{Value: int64(n)}},
		metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualPostgresauditDuplicatesIgnored(t, tel, []metricdata.DataPoint[int64]{{Value: int64(3 * n)}},
		metricdatatest.IgnoreTimestamp())

	// The columns hold the canonical record: identity from the configured tenant, masked content, verdicts.
	c := connect(t, dsn)
	var query, tenant, org, verdict string
	var pii []string
	var obligations, details []byte
	require.NoError(t, c.QueryRow(ctx, `SELECT query, tenant_id, org_id, policy_decision, pii_types, obligations, policy_details
		FROM audit_logs WHERE request_type = 'claude_code_user_prompt'`).Scan(&query, &tenant, &org, &verdict, &pii, &obligations, &details))
	assert.Equal(t, "tenant-a", tenant)
	assert.Equal(t, "org-tenant-a", org)
	assert.Contains(t, query, "[REDACTED:ssn]")
	assert.Contains(t, query, "[REDACTED:credit_card]")
	assert.NotContains(t, query, "4111")
	assert.Equal(t, "redacted", verdict)
	assert.ElementsMatch(t, []string{"credit_card", "ssn"}, pii)
	assert.JSONEq(t, `["redact_pii"]`, string(obligations))
	var pd audit.PolicyDetails
	require.NoError(t, json.Unmarshal(details, &pd))
	assert.Contains(t, pd.Matched, "sys_pii_redaction")

	// Usage is stored where measured and NULL where not, never a fabricated 0.
	assert.EqualValues(t, 0, queryInt(t, dsn, "SELECT count(*) FROM audit_logs WHERE request_type = 'claude_code_api_request' AND (input_tokens IS NULL OR cost IS NULL OR model IS NULL)"))
	assert.EqualValues(t, 0, queryInt(t, dsn, "SELECT count(*) FROM audit_logs WHERE request_type = 'claude_code_user_prompt' AND input_tokens IS NOT NULL"))
	// Every record matches what FromLogRecord reads (a sample of columns across all rows).
	recs, _, bad := e.convert(ld)
	require.Empty(t, bad)
	for _, r := range recs {
		var ts time.Time
		var reqType, email string
		require.NoError(t, c.QueryRow(ctx, `SELECT "timestamp", request_type, user_email FROM audit_logs WHERE id = $1`, r.ID).Scan(&ts, &reqType, &email))
		assert.True(t, ts.Equal(r.Timestamp), r.ID)
		assert.Equal(t, r.RequestType, reqType)
		assert.Equal(t, r.UserEmail, email)
	}
}

func TestImmutability(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	e := startExporter(t, testConfig(t, dsn), nil)
	require.NoError(t, e.pushLogs(context.Background(), governed(t, "tenant-a")))
	c := connect(t, dsn)
	ctx := context.Background()

	_, err := c.Exec(ctx, "UPDATE audit_logs SET policy_decision = 'allowed' WHERE policy_decision = 'redacted'")
	pgErr := requireSQLState(t, err, "42501")
	assert.Contains(t, pgErr.Message, "audit records are immutable")
	_, err = c.Exec(ctx, "DELETE FROM audit_logs")
	requireSQLState(t, err, "42501")
	_, err = c.Exec(ctx, "TRUNCATE audit_logs")
	requireSQLState(t, err, "42501")
	// The partition the records are in (the month of their event time, the fixture's, not today's).
	var part string
	require.NoError(t, c.QueryRow(ctx, "SELECT tableoid::regclass::text FROM audit_logs LIMIT 1").Scan(&part))
	require.True(t, strings.HasPrefix(part, "audit_logs_p"), part)
	_, err = c.Exec(ctx, "UPDATE "+part+" SET user_email = 'x'") // directly on the partition
	requireSQLState(t, err, "42501")
	_, err = c.Exec(ctx, "TRUNCATE "+part)
	requireSQLState(t, err, "42501")
	// Setting the flag outside the retention function does not open UPDATE.
	_, err = c.Exec(ctx, "BEGIN; SET LOCAL govcol.retention = 'on'; UPDATE audit_logs SET user_email = 'x'; COMMIT")
	requireSQLState(t, err, "42501")
	_, _ = c.Exec(ctx, "ROLLBACK")
	assert.EqualValues(t, 11, queryInt(t, dsn, "SELECT count(*) FROM audit_logs"))
	assert.EqualValues(t, 0, queryInt(t, dsn, "SELECT count(*) FROM audit_logs WHERE user_email = 'x'"))

	// The retention path deletes only what the owner's policy allows (no policy: kept; a cutoff younger than the
	// policy: refused); the split-role cases are in roles_test.go.
	_, err = c.Exec(ctx, "SELECT audit_logs_retention_delete('', now() - interval '10 days', 100)")
	requireSQLState(t, err, "42501")
	_, err = c.Exec(ctx, "INSERT INTO audit_logs_retention_policy (category, days) VALUES ('', 1)")
	require.NoError(t, err)
	_, err = c.Exec(ctx, "SELECT audit_logs_retention_delete('', now(), 100)")
	requireSQLState(t, err, "42501")
	assert.EqualValues(t, 11, queryInt(t, dsn, "SELECT deleted FROM audit_logs_retention_delete('', now() - interval '1 day', 100)"))
	assert.EqualValues(t, 0, queryInt(t, dsn, "SELECT count(*) FROM audit_logs"))
}

func TestTwoCollectorsStartTogetherOnAnEmptyDatabase(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	base := governed(t, "tenant-a")
	shared := renumber(base, time.Time{})
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e, err := newAuditExporter(testConfig(t, dsn), componenttest.NewNopTelemetrySettings())
			if err == nil {
				err = e.start(context.Background(), componenttest.NewNopHost())
			}
			if err == nil {
				defer e.shutdown(context.Background())
				// Each writes its own batches and the same shared one.
				for _, ld := range append(batches(base, 5), shared) {
					if err = e.pushLogs(context.Background(), ld); err != nil {
						break
					}
				}
				if err == nil && !e.ready.Load() {
					err = assert.AnError
				}
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	assert.EqualValues(t, (2*5+1)*11, queryInt(t, dsn, "SELECT count(*) FROM audit_logs"))
	assert.EqualValues(t, migrationCount(t), queryInt(t, dsn, "SELECT version FROM audit_logs_schema_version"))
	// Nothing was spilled: both collectors found the schema ready.
	assert.EqualValues(t, 0, queryInt(t, dsn, "SELECT count(*) FROM audit_logs_default"))
}

func TestPermanentFailuresGoToDeadLetterAndTheRestIsWritten(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	cfg := testConfig(t, dsn)
	e := startExporter(t, cfg, tel)
	// A rule a DBA added: Postgres now refuses Bash tool records permanently (SQLSTATE 23514).
	pgtest.Exec(t, dsn, "ALTER TABLE audit_logs ADD CONSTRAINT no_bash CHECK (tool_name IS DISTINCT FROM 'Bash')")
	ld := renumber(governed(t, "tenant-a"), time.Time{})
	bash := int(queryIntLogs(ld, func(r audit.Record) bool { return r.ToolName == "Bash" }))
	require.Positive(t, bash)
	// And one log record that never passed the governance processor: its raw content stays out of the file.
	ungoverned := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().AppendEmpty()
	ungoverned.Body().SetStr("not governed: raw.secret@example.com")
	ungoverned.Attributes().PutStr("prompt", "ssn 123-45-6789")

	require.NoError(t, e.pushLogs(context.Background(), ld))
	assert.EqualValues(t, 11-bash, queryInt(t, dsn, "SELECT count(*) FROM audit_logs"))

	b, err := os.ReadFile(cfg.deadLetterPath())
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	require.Len(t, lines, bash+1)
	reasons := map[string]int{}
	for _, l := range lines {
		var d struct {
			Reason string          `json:"reason"`
			Error  string          `json:"error"`
			Record json.RawMessage `json:"record"`
		}
		require.NoError(t, json.Unmarshal([]byte(l), &d))
		reasons[d.Reason]++
		if d.Reason == "rejected" {
			assert.Contains(t, d.Error, "SQLSTATE 23514")
			assert.Contains(t, d.Error, "no_bash")
			var r audit.Record
			require.NoError(t, json.Unmarshal(d.Record, &r))
			assert.Equal(t, "Bash", r.ToolName)
		}
	}
	assert.Equal(t, map[string]int{"rejected": bash, "malformed": 1}, reasons)
	assert.NotContains(t, string(b), "raw.secret@example.com")
	assert.NotContains(t, string(b), "123-45-6789")
	assert.Contains(t, string(b), `"governed":false`)
	st, err := os.Stat(cfg.deadLetterPath())
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	metadatatest.AssertEqualPostgresauditDeadLettered(t, tel, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("reason", "malformed"))},
		{Value: int64(bash), Attributes: attribute.NewSet(attribute.String("reason", "rejected"))},
	}, metricdatatest.IgnoreTimestamp())
}

func queryIntLogs(ld plog.Logs, pred func(audit.Record) bool) int64 {
	var n int64
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				if r, err := audit.FromLogRecord(rl.Resource(), lr); err == nil && pred(r) {
					n++
				}
			}
		}
	}
	return n
}

func TestRetentionPerCategory(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	cfg := testConfig(t, dsn)
	cfg.Retention.Categories = []RetentionCategory{
		{RequestTypePrefix: "", Days: 365},
		{RequestTypePrefix: "claude_code_api_", Days: 30},
	}
	cfg.Retention.BatchSize = 3 // several bounded DELETEs per category
	cfg.Retention.CleanupInterval = time.Hour
	// First a plain exporter writes records of three ages.
	w := startExporter(t, testConfig(t, dsn), nil)
	base := governed(t, "tenant-a")
	now := time.Now().UTC()
	for _, age := range []int{400, 100, 10} {
		require.NoError(t, w.pushLogs(context.Background(), renumber(base, now.AddDate(0, 0, -age))))
	}
	api := queryInt(t, dsn, "SELECT count(*) FROM audit_logs WHERE request_type ^@ 'claude_code_api_'") / 3
	require.Positive(t, api)
	// Starting with retention configured runs a cleanup at once.
	startExporter(t, cfg, tel)
	// Kept: everything 10 days old; of the 100-day-old ones all but the API records; none of the 400-day-old.
	want := 11 + (11 - api)
	eventually(t, 30*time.Second, "retention", func() bool { return queryInt(t, dsn, "SELECT count(*) FROM audit_logs") == want })
	assert.EqualValues(t, 0, queryInt(t, dsn, `SELECT count(*) FROM audit_logs WHERE "timestamp" < now() - interval '365 days'`))
	assert.EqualValues(t, 0, queryInt(t, dsn, `SELECT count(*) FROM audit_logs WHERE request_type ^@ 'claude_code_api_' AND "timestamp" < now() - interval '30 days'`))
	eventually(t, 10*time.Second, "retention metric", func() bool {
		m, err := tel.GetMetric("otelcol_postgresaudit_retention_deleted")
		return err == nil && len(m.Data.(metricdata.Sum[int64]).DataPoints) == 2
	})
	metadatatest.AssertEqualPostgresauditRetentionDeleted(t, tel, []metricdata.DataPoint[int64]{
		{Value: 11 - api, Attributes: attribute.NewSet(attribute.String("category", "*"))},
		{Value: 2 * api, Attributes: attribute.NewSet(attribute.String("category", "claude_code_api_"))},
	}, metricdatatest.IgnoreTimestamp())
}

// Postgres text and jsonb cannot hold NUL (SQLSTATE 22021 / 22P05): such a record is dead-lettered and the rest of
// the batch stored.
func TestNULByteIsDeadLetteredNotBlocking(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	cfg := testConfig(t, dsn)
	e := startExporter(t, cfg, nil)
	ld := renumber(governed(t, "tenant-a"), time.Time{})
	lr := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	lr.Attributes().PutStr(audit.AttrQuery, "binary\x00output")
	require.NoError(t, e.pushLogs(context.Background(), ld))
	assert.EqualValues(t, 10, queryInt(t, dsn, "SELECT count(*) FROM audit_logs"))
	b, err := os.ReadFile(cfg.deadLetterPath())
	require.NoError(t, err)
	assert.Contains(t, string(b), `"reason":"rejected"`)
	assert.Contains(t, string(b), "SQLSTATE 22021")
}

// With create_schema: false the exporter never creates anything: against a database without the table it spills
// (nothing lost); against a schema a DBA applied it writes.
func TestCreateSchemaFalse(t *testing.T) {
	empty := pgtest.NewDatabase(t)
	cfg := testConfig(t, empty)
	cfg.CreateSchema = false
	cfg.BackOffConfig.Enabled = false
	e := startExporter(t, cfg, nil)
	require.NoError(t, e.pushLogs(context.Background(), renumber(governed(t, "tenant-a"), time.Time{})))
	assert.EqualValues(t, 11, e.fb.depth(), "spilled while the table is missing")
	assert.EqualValues(t, 0, queryInt(t, empty, "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'audit_logs%'"))

	managed := pgtest.NewDatabase(t)
	startExporter(t, testConfig(t, managed), nil) // stands in for the DBA applying the migrations
	cfg2 := testConfig(t, managed)
	cfg2.CreateSchema = false
	e2 := startExporter(t, cfg2, nil)
	require.NoError(t, e2.pushLogs(context.Background(), renumber(governed(t, "tenant-a"), time.Time{})))
	assert.EqualValues(t, 11, queryInt(t, managed, "SELECT count(*) FROM audit_logs"))
}
