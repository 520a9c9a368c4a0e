package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/govcol/govcol/exporter/postgresauditexporter"
	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/audittest"
	"github.com/govcol/govcol/internal/integrity"
	"github.com/govcol/govcol/internal/license"
	"github.com/govcol/govcol/internal/pgtest"
	"github.com/govcol/govcol/processor/governanceprocessor"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func itoa(n int) string { return strconv.Itoa(n) }

// signingKey writes an Ed25519 key pair and returns the private and public PEM paths.
func signingKey(t testing.TB) (string, string) {
	t.Helper()
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "audit.key"), filepath.Join(dir, "audit.pub")
	_, err := license.WriteKeyPair(priv, pub)
	require.NoError(t, err)
	return priv, pub
}

// collectorRun is one collector run: the real governance processor (chaining, checkpoints every 7 records and at
// shutdown) feeding the real Postgres exporter, given batches of the governed fixture.
// shifts are the batches to send: the fixture shifted by that many seconds (the same shift twice is a re-delivery).
func collectorRun(t testing.TB, dsn, keyFile, fallback string, shifts []int, extra ...func(cfg *postgresauditexporter.Config)) {
	t.Helper()
	ctx := context.Background()
	pf := postgresauditexporter.NewFactory()
	pcfg := pf.CreateDefaultConfig().(*postgresauditexporter.Config)
	pcfg.DSN = configopaque.String(dsn)
	pcfg.Fallback.Path = fallback
	pcfg.QueueConfig = configoptional.None[exporterhelper.QueueBatchConfig]() // synchronous: deterministic tests
	for _, f := range extra {
		if f != nil {
			f(pcfg)
		}
	}
	exp, err := pf.CreateLogs(ctx, exportertest.NewNopSettings(pf.Type()), pcfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(ctx, componenttest.NewNopHost()))

	gf := governanceprocessor.NewFactory()
	gcfg := gf.CreateDefaultConfig().(*governanceprocessor.Config)
	gcfg.AllowUnauthenticated = true
	gcfg.DefaultTenant = governanceprocessor.DefaultTenantConfig{OrgID: "org-a", TenantID: "tenant-a", ClientID: "client-a"}
	gcfg.Integrity.SigningKeyFile = keyFile
	gcfg.Integrity.CheckpointRecords = 7
	require.NoError(t, gcfg.Validate())
	proc, err := gf.CreateLogs(ctx, processortest.NewNopSettings(gf.Type()), gcfg, exp)
	require.NoError(t, err)
	require.NoError(t, proc.Start(ctx, componenttest.NewNopHost()))

	for _, shift := range shifts {
		require.NoError(t, proc.ConsumeLogs(ctx, audittest.Raw(t, shift)))
	}
	require.NoError(t, proc.Shutdown(ctx))
	require.NoError(t, exp.Shutdown(ctx))
}

func verifyReport(t *testing.T, dsn, pub string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := runVerify(context.Background(), &out, verifyOptions{dsn: dsn, keys: []string{pub}, table: "audit_logs", checkpoints: "audit_checkpoints"}, time.Now())
	return out.String(), err
}

// tamper runs SQL with triggers off, as a database superuser could.
func tamper(t *testing.T, dsn string, sql ...string) {
	t.Helper()
	c, err := pgx.Connect(context.Background(), dsn)
	require.NoError(t, err)
	defer c.Close(context.Background())
	_, err = c.Exec(context.Background(), "SET session_replication_role = replica")
	require.NoError(t, err)
	for _, s := range sql {
		_, err = c.Exec(context.Background(), s)
		require.NoError(t, err, s)
	}
}

func chainOf(t *testing.T, dsn string) string {
	t.Helper()
	c, err := pgx.Connect(context.Background(), dsn)
	require.NoError(t, err)
	defer c.Close(context.Background())
	var id string
	require.NoError(t, c.QueryRow(context.Background(), "SELECT chain_id FROM audit_logs LIMIT 1").Scan(&id))
	return id
}

func TestVerifyCleanTrail(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	key, pub := signingKey(t)
	collectorRun(t, dsn, key, filepath.Join(t.TempDir(), "fb.jsonl"), []int{0, 1, 2})
	// A restarted collector starts a new chain in the same tables.
	collectorRun(t, dsn, key, filepath.Join(t.TempDir(), "fb.jsonl"), []int{3, 4})
	out, err := verifyReport(t, dsn, pub)
	require.NoError(t, err, out)
	assert.Equal(t, 2, strings.Count(out, ": OK"), out)
	assert.Contains(t, out, "2 chains, 55 records checked")
	assert.Positive(t, pgtest.QueryInt(t, dsn, "SELECT count(*) FROM audit_checkpoints"))

	// A wrong key set: every checkpoint fails its signature.
	_, otherPub := signingKey(t)
	var js bytes.Buffer
	err = runVerify(context.Background(), &js, verifyOptions{dsn: dsn, keys: []string{otherPub}, table: "audit_logs",
		checkpoints: "audit_checkpoints", asJSON: true}, time.Now())
	require.ErrorIs(t, err, errVerifyFailed)
	assert.Equal(t, 5, strings.Count(js.String(), `"kind": "bad_signature"`), "every checkpoint (after each batch of 11: 3 + 2)")
	assert.Contains(t, js.String(), `"kind": "uncovered_tail"`, "nothing is vouched for")
}

func TestVerifyDetectsTampering(t *testing.T) {
	key, pub := signingKey(t)
	fresh := func(t *testing.T) (string, string) {
		dsn := pgtest.NewDatabase(t)
		collectorRun(t, dsn, key, filepath.Join(t.TempDir(), "fb.jsonl"), []int{0, 1, 2}) // 33 records
		out, err := verifyReport(t, dsn, pub)
		require.NoError(t, err, out)
		return dsn, chainOf(t, dsn)
	}
	for name, tc := range map[string]struct {
		tamper func(t *testing.T, dsn, chain string)
		kind   string
		seq    int
	}{
		"modified": {func(t *testing.T, dsn, chain string) {
			tamper(t, dsn, "UPDATE audit_logs SET query = 'nothing to see' WHERE chain_seq = 12")
		}, integrity.KindModified, 12},
		"deleted middle row": {func(t *testing.T, dsn, chain string) {
			tamper(t, dsn, "DELETE FROM audit_logs WHERE chain_seq = 20")
		}, integrity.KindDeleted, 20},
		"swapped sequence numbers": {func(t *testing.T, dsn, chain string) {
			tamper(t, dsn, "UPDATE audit_logs SET chain_seq = CASE chain_seq WHEN 8 THEN 9 ELSE 8 END WHERE chain_seq IN (8, 9)")
		}, integrity.KindReordered, 8},
		"truncated tail": {func(t *testing.T, dsn, chain string) {
			tamper(t, dsn, "DELETE FROM audit_logs WHERE chain_seq > 31")
		}, integrity.KindDeleted, 32},
		"forged checkpoint": {func(t *testing.T, dsn, chain string) {
			tamper(t, dsn, "UPDATE audit_checkpoints SET last_hash = 'v1:'||repeat('0', 64) WHERE last_seq = 22")
		}, integrity.KindBadSignature, 22},
		"forged inserted row": {forgeRow, integrity.KindInserted, 5},
	} {
		t.Run(name, func(t *testing.T) {
			dsn, chain := fresh(t)
			tc.tamper(t, dsn, chain)
			out, err := verifyReport(t, dsn, pub)
			require.ErrorIs(t, err, errVerifyFailed, out)
			assert.Contains(t, out, "FAILED: "+tc.kind+" at seq "+itoa(tc.seq), out)
		})
	}
}

// forgeRow inserts a well-formed record at position 5: its hash is correct (the algorithm is public) and it links to
// record 4, but record 5 already exists.
func forgeRow(t *testing.T, dsn, chain string) {
	c, err := pgx.Connect(context.Background(), dsn)
	require.NoError(t, err)
	defer c.Close(context.Background())
	entries, _, err := integrity.Load(context.Background(), c, integrity.Source{Table: "audit_logs", CheckpointsTable: "audit_checkpoints"})
	require.NoError(t, err)
	var orig integrity.Entry
	for _, e := range entries[chain] {
		if e.Record.ChainSeq == 5 {
			orig = e
		}
	}
	forged := orig
	forged.Record.ID = "aud_forged"
	forged.Record.Query = "rm -rf / was never run"
	b, err := forged.Record.CanonicalWithJSON(forged.JSON)
	require.NoError(t, err)
	tamper(t, dsn,
		"CREATE TEMP TABLE f AS SELECT * FROM audit_logs WHERE id = '"+orig.Record.ID+"'",
		"UPDATE f SET id = 'aud_forged', query = 'rm -rf / was never run', record_hash = '"+audit.HashOf(b)+"'",
		"INSERT INTO audit_logs SELECT * FROM f")
}

// A client retry delivers stored records again: they are chained again, kept as chain links, and the trail verifies.
func TestVerifyAfterRedeliveryAndReplay(t *testing.T) {
	key, pub := signingKey(t)
	cluster := pgtest.NewCluster(t)
	dsn := cluster.DSN("")
	fallback := filepath.Join(t.TempDir(), "fb.jsonl")
	ctx := context.Background()
	// Postgres down for a whole run: everything (records and checkpoints) spills to the fallback file.
	require.NoError(t, cluster.Stop(ctx, "immediate"))
	collectorRun(t, dsn, key, fallback, []int{0, 1}, func(c *postgresauditexporter.Config) { c.BackOffConfig.Enabled = false })
	require.NoError(t, cluster.Start(ctx))
	// The next run replays the file at start, then stores its own records: batch 1 again (a client retry of
	// records already stored), and batch 2, and batch 2 once more.
	collectorRun(t, dsn, key, fallback, []int{1, 2, 2})
	deadline := time.Now().Add(30 * time.Second)
	for pgtest.QueryInt(t, dsn, "SELECT count(*) FROM audit_logs") < 33 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	assert.EqualValues(t, 33, pgtest.QueryInt(t, dsn, "SELECT count(*) FROM audit_logs"), "three distinct batches")
	assert.EqualValues(t, 22, pgtest.QueryInt(t, dsn, "SELECT count(*) FROM audit_logs_redeliveries"), "two re-delivered batches kept whole")
	out, err := verifyReport(t, dsn, pub)
	require.NoError(t, err, out)
	assert.Equal(t, 2, strings.Count(out, ": OK"), out)
	assert.Contains(t, out, "2 chains, 55 records checked")
}
