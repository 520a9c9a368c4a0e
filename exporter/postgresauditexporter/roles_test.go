package postgresauditexporter

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/govcol/govcol/internal/integrity"
	"github.com/govcol/govcol/internal/license"
	"github.com/govcol/govcol/internal/pgtest"
	"github.com/govcol/govcol/internal/store"
)

// initRoles runs `govctl db init`'s setup on a fresh database and returns its result (the DSNs carry passwords).
func initRoles(t *testing.T, retention ...RetentionCategory) (superDSN string, res *store.DBInitResult) {
	t.Helper()
	superDSN = pgtest.NewDatabase(t)
	res, err := store.InitDatabase(context.Background(), superDSN, store.DBInitOptions{RolePrefix: uniqueRolePrefix(t), Retention: retention})
	require.NoError(t, err)
	return superDSN, res
}

// uniqueRolePrefix: roles are cluster-wide and tests share the cluster.
func uniqueRolePrefix(t *testing.T) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "t" + hex.EncodeToString(b) + "_govcol"
}

// pgCode is the SQLSTATE of err ("" when err is nil or not a Postgres error).
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// Issue 17, finding 1: as the collector's database role (the writer, not a superuser), the retention switch opens
// nothing, the checkpoints cannot be deleted, and the triggers cannot be dropped or disabled. On 994d622 the
// collector's role owned the schema and held DELETE: `SET LOCAL govcol.retention = 'on'; DELETE ...` succeeded.
func TestFinding1WriterCannotEraseHistory(t *testing.T) {
	superDSN, res := initRoles(t, RetentionCategory{RequestTypePrefix: "", Days: 30})
	ctx := context.Background()

	// The collector writes as the writer role (migrations skipped: it is not the owner).
	cfg := testConfig(t, res.WriterDSN)
	e := startExporter(t, cfg, nil)
	require.NoError(t, e.pushLogs(ctx, governed(t, "tenant-a")))
	require.EqualValues(t, 11, queryInt(t, res.WriterDSN, "SELECT count(*) FROM audit_logs"))
	cp := integrity.Checkpoint{ChainID: "c", TenantID: "tenant-a", LastSeq: 1, LastHash: "h", SignedAt: time.Now()}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	cp.Sign(key, "k")
	require.NoError(t, e.writeRows(ctx, nil, []integrity.Checkpoint{cp}))
	require.EqualValues(t, 1, queryInt(t, res.WriterDSN, "SELECT count(*) FROM audit_checkpoints"))

	w := connect(t, res.WriterDSN)
	var super bool
	require.NoError(t, w.QueryRow(ctx, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&super))
	require.False(t, super, "the attack runs as a non-superuser")
	part := "audit_logs_p" + time.Now().UTC().Format("200601")
	attacks := []string{
		// The finding itself.
		"SET LOCAL govcol.retention = 'on'; DELETE FROM audit_logs WHERE chain_seq <= 10",
		"SET LOCAL govcol.retention = 'on'; DELETE FROM audit_checkpoints",
		"SET LOCAL govcol.retention = 'on'; DELETE FROM audit_logs_redeliveries",
		"SET LOCAL govcol.retention = 'on'; DELETE FROM " + part,
		"DELETE FROM audit_logs",
		"UPDATE audit_logs SET user_email = 'x'",
		"TRUNCATE audit_logs",
		"TRUNCATE audit_checkpoints",
		// The triggers and tables belong to the owner.
		"ALTER TABLE audit_logs DISABLE TRIGGER ALL",
		"ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_immutable",
		"ALTER TABLE audit_checkpoints DISABLE TRIGGER USER",
		"DROP TRIGGER audit_logs_immutable ON audit_logs",
		"DROP TRIGGER audit_checkpoints_immutable ON audit_checkpoints",
		"DROP TABLE audit_checkpoints",
		"ALTER TABLE audit_logs DETACH PARTITION " + part,
		"CREATE OR REPLACE FUNCTION audit_logs_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN OLD; END$$",
		"CREATE OR REPLACE FUNCTION audit_logs_retention_role(schema name) RETURNS name LANGUAGE sql AS $$SELECT current_user$$",
		"ALTER FUNCTION audit_logs_retention_delete(text, timestamptz, int) OWNER TO " + pgx.Identifier{res.Roles.Writer}.Sanitize(),
		// Retention is the maintenance role's, through its functions only, within the owner's policy.
		"SET ROLE " + pgx.Identifier{res.Roles.Maintenance}.Sanitize(),
		"SET ROLE " + pgx.Identifier{res.Roles.Owner}.Sanitize(),
		"INSERT INTO audit_logs_retention_policy (category, days) VALUES ('claude_code_', 1)",
		"UPDATE audit_logs_retention_policy SET days = 1",
		"INSERT INTO audit_logs_retention_markers (tenant_id, chain_id, from_seq, to_seq, count, category, reason, cutoff, deleted_at) " +
			"VALUES ('tenant-a', 'c', 1, 10, 10, '', 'retention', now(), now())",
		"SELECT audit_logs_retention_delete('', now(), 100)",                                    // younger than the policy
		"SELECT audit_logs_retention_delete('claude_code_', now() - interval '1000 days', 100)", // no policy: kept
		"SELECT audit_logs_ensure_partitions(current_date, 100000)",                             // bounded
	}
	for _, sql := range attacks {
		tx, err := w.Begin(ctx)
		require.NoError(t, err)
		_, err = tx.Exec(ctx, sql)
		if err == nil {
			err = tx.Commit(ctx)
		}
		_ = tx.Rollback(ctx)
		require.Error(t, err, "the writer could run: %s", sql)
		assert.Contains(t, []string{"42501", "22023"}, pgCode(err), "%s: %v", sql, err)
	}
	assert.EqualValues(t, 11, queryInt(t, res.WriterDSN, "SELECT count(*) FROM audit_logs"))
	assert.EqualValues(t, 1, queryInt(t, res.WriterDSN, "SELECT count(*) FROM audit_checkpoints"))
	assert.EqualValues(t, 0, queryInt(t, res.WriterDSN, "SELECT count(*) FROM audit_logs_retention_markers"))

	// The trigger holds on its own: even a writer wrongly granted DELETE cannot use the switch.
	admin := connect(t, superDSN)
	_, err := admin.Exec(ctx, "GRANT DELETE ON audit_logs, audit_checkpoints TO "+pgx.Identifier{res.Roles.Writer}.Sanitize())
	require.NoError(t, err)
	// ... nor by shadowing the role check through its search_path (a schema it could create in on older servers).
	_, err = admin.Exec(ctx, "CREATE SCHEMA shadow; GRANT USAGE ON SCHEMA shadow TO "+pgx.Identifier{res.Roles.Writer}.Sanitize()+
		"; CREATE FUNCTION shadow.audit_logs_retention_role(schema name) RETURNS name LANGUAGE sql AS $$SELECT current_user$$")
	require.NoError(t, err)
	for _, sql := range []string{
		"BEGIN; SET LOCAL govcol.retention = 'on'; DELETE FROM audit_logs WHERE chain_seq <= 10; COMMIT",
		"BEGIN; SET LOCAL govcol.retention = 'on'; DELETE FROM audit_checkpoints; COMMIT",
		"BEGIN; SET LOCAL search_path = shadow, public; SET LOCAL govcol.retention = 'on'; DELETE FROM audit_logs; COMMIT",
	} {
		_, err := w.Exec(ctx, sql)
		require.Error(t, err, sql)
		assert.Equal(t, "42501", pgCode(err), "%s: %v", sql, err)
		assert.Contains(t, err.Error(), "immutable")
		_, _ = w.Exec(ctx, "ROLLBACK")
	}
	_, err = admin.Exec(ctx, "REVOKE DELETE ON audit_logs, audit_checkpoints FROM "+pgx.Identifier{res.Roles.Writer}.Sanitize())
	require.NoError(t, err)
	assert.EqualValues(t, 11, queryInt(t, res.WriterDSN, "SELECT count(*) FROM audit_logs"))

	// The reader only reads.
	r := connect(t, res.ReaderDSN)
	assert.EqualValues(t, 11, queryInt(t, res.ReaderDSN, "SELECT count(*) FROM audit_logs"))
	for _, sql := range []string{
		"INSERT INTO audit_checkpoints SELECT * FROM audit_checkpoints",
		"SELECT audit_logs_retention_delete('', now() - interval '1000 days', 100)",
		"SELECT audit_logs_ensure_partitions(current_date, 1)",
	} {
		_, err := r.Exec(ctx, sql)
		assert.Equal(t, "42501", pgCode(err), "the reader could run: %s (%v)", sql, err)
	}
}

// The writer role's collector keeps working with create_schema: true (its default): it detects it does not own
// the schema, skips the migrations, checks the version and keeps partitions ahead through the definer function.
func TestExporterAsWriterRole(t *testing.T) {
	superDSN, res := initRoles(t)
	ctx := context.Background()
	cfg := testConfig(t, res.WriterDSN)
	require.True(t, cfg.CreateSchema)
	cfg.PartitionMonthsAhead = 6
	e := startExporter(t, cfg, nil)
	require.True(t, e.ready.Load(), "ready as the writer")
	require.NoError(t, e.pushLogs(ctx, governed(t, "tenant-a")))
	require.NoError(t, e.pushLogs(ctx, renumber(governed(t, "tenant-a"), time.Time{})))
	assert.EqualValues(t, 22, queryInt(t, res.WriterDSN, "SELECT count(*) FROM audit_logs"))
	ahead := "audit_logs_p" + time.Now().UTC().AddDate(0, 6, 0).Format("200601")
	assert.EqualValues(t, 1, queryInt(t, res.WriterDSN, "SELECT count(*) FROM pg_class WHERE relname = $1", ahead),
		"partition created through the definer function")
	var owner string
	require.NoError(t, connect(t, res.WriterDSN).QueryRow(ctx,
		"SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = $1", ahead).Scan(&owner))
	assert.Equal(t, res.Roles.Owner, owner)
	assert.Equal(t, migrationCount(t), res.SchemaVersion)

	// A schema older than this collector needs is reported, not migrated by the writer.
	_, err := connect(t, superDSN).Exec(ctx, "UPDATE audit_logs_schema_version SET version = 3")
	require.NoError(t, err)
	e2 := startExporter(t, testConfig(t, res.WriterDSN), nil)
	require.False(t, e2.ready.Load())
	err = e2.ensureReady(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cannot migrate")
}

// Retention as the writer: the definer function deletes what the policy allows (the longer categories left to
// their own policy), writes a marker per chain, and the collector signs each before the transaction commits.
func TestRetentionAsWriterLeavesSignedMarkers(t *testing.T) {
	_, res := initRoles(t,
		RetentionCategory{RequestTypePrefix: "", Days: 365},
		RetentionCategory{RequestTypePrefix: "claude_code_api_", Days: 30})
	ctx := context.Background()
	now := time.Now().UTC()
	w := startExporter(t, testConfig(t, res.WriterDSN), nil)
	for _, c := range []struct {
		tenant string
		age    int
	}{{"tenant-old", 400}, {"tenant-mid", 100}, {"tenant-new", 10}} {
		require.NoError(t, w.pushLogs(ctx, renumber(governed(t, c.tenant), now.AddDate(0, 0, -c.age))))
	}
	api := queryInt(t, res.WriterDSN, "SELECT count(*) FROM audit_logs WHERE request_type ^@ 'claude_code_api_' AND tenant_id = 'tenant-mid'")
	require.Positive(t, api)
	// Rows the writer forged into an old chain (a duplicate position, and a position 0) go with retention without
	// invalidating its markers or blocking it.
	_, err := connect(t, res.WriterDSN).Exec(ctx, `CREATE TEMP TABLE forged AS SELECT * FROM audit_logs WHERE tenant_id = 'tenant-old' ORDER BY chain_seq LIMIT 2;
		UPDATE forged SET id = 'forged-' || id; UPDATE forged SET chain_seq = 0 WHERE chain_seq = 1;
		INSERT INTO audit_logs SELECT * FROM forged`)
	require.NoError(t, err)
	require.EqualValues(t, 13, queryInt(t, res.WriterDSN, "SELECT count(*) FROM audit_logs WHERE tenant_id = 'tenant-old'"))

	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	cfg := testConfig(t, res.WriterDSN)
	cfg.Retention.Categories = []RetentionCategory{{RequestTypePrefix: "", Days: 365}, {RequestTypePrefix: "claude_code_api_", Days: 30}}
	cfg.Retention.BatchSize = 4
	cfg.Retention.CleanupInterval = time.Hour
	cfg.Integrity.SigningKey = configopaqueString(base64.StdEncoding.EncodeToString(priv.Seed()))
	startExporter(t, cfg, nil)
	want := 11 + (11 - api)
	eventually(t, 30*time.Second, "retention", func() bool { return queryInt(t, res.WriterDSN, "SELECT count(*) FROM audit_logs") == want })
	assert.EqualValues(t, 0, queryInt(t, res.WriterDSN, "SELECT count(*) FROM audit_logs WHERE tenant_id = 'tenant-old'"))

	// Markers: signed, one or more per chain touched, counting exactly the deleted records.
	keys := license.KeySet{license.KeyID(pub): pub}
	rows, err := connect(t, res.ReaderDSN).Query(ctx, "SELECT tenant_id, chain_id, from_seq, to_seq, count, category, "+
		"reason, cutoff, deleted_at, key_id, signature FROM audit_logs_retention_markers ORDER BY id")
	require.NoError(t, err)
	markers, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (integrity.RetentionMarker, error) {
		var m integrity.RetentionMarker
		err := r.Scan(&m.TenantID, &m.ChainID, &m.FromSeq, &m.ToSeq, &m.Count, &m.Category, &m.Reason, &m.Cutoff,
			&m.DeletedAt, &m.KeyID, &m.Signature)
		return m, err
	})
	require.NoError(t, err)
	require.NotEmpty(t, markers)
	deleted := map[string]int64{}
	for _, m := range markers {
		require.NoError(t, m.Verify(keys), "marker %+v", m)
		assert.Equal(t, integrity.ReasonRetention, m.Reason)
		assert.True(t, m.Cutoff.Before(now.AddDate(0, 0, -29)), "cutoff %v", m.Cutoff)
		deleted[m.TenantID] += m.Count
		// Tampering with a stored marker breaks its signature.
		m.ToSeq++
		assert.Error(t, m.Verify(keys))
	}
	// tenant-mid lost exactly its API records; tenant-old its 11 positions (its forged duplicate counts again when it
	// went in another batch than the original), every one of them inside a marker's range.
	assert.Equal(t, api, deleted["tenant-mid"])
	assert.Contains(t, []int64{11, 12}, deleted["tenant-old"])
	covered := integrity.Ranges{}
	for _, m := range markers {
		if m.TenantID == "tenant-old" {
			covered.AddRange(m.FromSeq, m.ToSeq)
		}
	}
	assert.Equal(t, "1-11", covered.String())
	// Signed markers cannot be re-signed, changed or deleted, even through the signing function.
	wc := connect(t, res.WriterDSN)
	for _, sql := range []string{
		"SELECT audit_logs_retention_sign((SELECT min(id) FROM audit_logs_retention_markers), 'k', 'forged')",
		"UPDATE audit_logs_retention_markers SET signature = ''",
		"DELETE FROM audit_logs_retention_markers",
	} {
		_, err := wc.Exec(ctx, sql)
		assert.Equal(t, "42501", pgCode(err), "%s: %v", sql, err)
	}
}

// A schema an earlier single-role setup created (here the superuser, as the quick start did) is refused without
// Adopt and handed to the owner role with it; the records stay and the writer reads them.
func TestInitDatabaseAdoptsSingleRoleSchema(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	ctx := context.Background()
	e := startExporter(t, testConfig(t, dsn), nil)
	require.NoError(t, e.pushLogs(ctx, governed(t, "tenant-a")))
	opts := store.DBInitOptions{RolePrefix: uniqueRolePrefix(t)}
	_, err := store.InitDatabase(ctx, dsn, opts)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--adopt")
	opts.Adopt = true
	res, err := store.InitDatabase(ctx, dsn, opts)
	require.NoError(t, err)
	assert.Equal(t, "postgres", res.Adopted)
	assert.EqualValues(t, 11, queryInt(t, res.WriterDSN, "SELECT count(*) FROM audit_logs"))
	assert.EqualValues(t, 0, queryInt(t, dsn, `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND pg_get_userbyid(c.relowner) <> $1`, res.Roles.Owner))
	assert.EqualValues(t, 1, queryInt(t, dsn, `SELECT count(*) FROM pg_proc WHERE proname = 'audit_logs_retention_delete'
		AND pg_get_userbyid(proowner) = $1`, res.Roles.Maintenance))
	w := connect(t, res.WriterDSN)
	_, err = w.Exec(ctx, "BEGIN; SET LOCAL govcol.retention = 'on'; DELETE FROM audit_logs; COMMIT")
	require.Equal(t, "42501", pgCode(err), "%v", err)
}

// As the writer, a configured retention the owner's policy does not allow is reported at start and refused by the
// function (nothing deleted); the same category within the policy deletes.
func TestWriterRetentionOutsidePolicyIsRefused(t *testing.T) {
	_, res := initRoles(t, RetentionCategory{RequestTypePrefix: "", Days: 365})
	ctx := context.Background()
	w := startExporter(t, testConfig(t, res.WriterDSN), nil)
	require.NoError(t, w.pushLogs(ctx, renumber(governed(t, "tenant-a"), time.Now().AddDate(0, 0, -100))))

	core, logs := observer.New(zap.InfoLevel)
	set := componenttest.NewNopTelemetrySettings()
	set.Logger = zap.New(core)
	cfg := testConfig(t, res.WriterDSN)
	cfg.Retention.Categories = []RetentionCategory{{RequestTypePrefix: "", Days: 30}, {RequestTypePrefix: "claude_code_", Days: 30}}
	cfg.Retention.CleanupInterval = time.Hour
	e, err := newAuditExporter(cfg, set)
	require.NoError(t, err)
	require.NoError(t, e.start(ctx, componenttest.NewNopHost()))
	t.Cleanup(func() { _ = e.shutdown(context.Background()) })
	eventually(t, 10*time.Second, "refusals logged", func() bool { return logs.FilterMessage("Retention failed").Len() >= 2 })
	warn := logs.FilterMessageSnippet("database policy will refuse").All()
	require.Len(t, warn, 1)
	assert.Contains(t, warn[0].ContextMap()["categories"], "*: configured 30 days, the policy keeps 365")
	assert.Contains(t, warn[0].ContextMap()["categories"], "claude_code_: no policy (its records are kept)")
	assert.EqualValues(t, 11, queryInt(t, res.WriterDSN, "SELECT count(*) FROM audit_logs"))
	assert.Empty(t, logs.FilterMessageSnippet("markers stored unsigned").All(), "nothing deleted, no markers")
}
