package main

import (
	"bytes"
	"context"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/govcol/govcol/exporter/postgresauditexporter"
	"github.com/govcol/govcol/exporter/s3decisionexporter"
	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/audittest"
	"github.com/govcol/govcol/internal/integrity"
	"github.com/govcol/govcol/internal/license"
	"github.com/govcol/govcol/internal/pgtest"
	"github.com/govcol/govcol/internal/store"
	"github.com/govcol/govcol/processor/governanceprocessor"
)

func TestMain(m *testing.M) {
	if os.Getenv("GOVCTL_TEST_RUN_MAIN") == "1" { // the test binary as the govctl command (TestVerifyMemoryIsBounded)
		main()
		os.Exit(0)
	}
	pgtest.Main(m)
}

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
	batches := make([][]int, len(shifts))
	for i, s := range shifts {
		batches[i] = []int{s}
	}
	collectorRunBatches(t, dsn, keyFile, fallback, batches, extra...)
}

// collectorRunBatches is collectorRun sending each batch's shifts together, in one request.
func collectorRunBatches(t testing.TB, dsn, keyFile, fallback string, batches [][]int, extra ...func(cfg *postgresauditexporter.Config)) {
	t.Helper()
	collectorPipeline(t, dsn, keyFile, fallback, batches, nil, extra...)
}

// collectorPipeline is collectorRunBatches with, when store is not nil, the real s3decision exporter beside the
// Postgres exporter (it ships every checkpoint to the decision store).
func collectorPipeline(t testing.TB, dsn, keyFile, fallback string, batches [][]int, store *s3decisionexporter.Config, extra ...func(cfg *postgresauditexporter.Config)) {
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
	next := consumer.Logs(exp)
	var s3exp exporter.Logs
	if store != nil {
		sf := s3decisionexporter.NewFactory()
		require.NoError(t, confmap.Validate(store))
		s3exp, err = sf.CreateLogs(ctx, exportertest.NewNopSettings(sf.Type()), store)
		require.NoError(t, err)
		require.NoError(t, s3exp.Start(ctx, componenttest.NewNopHost()))
		next = fanout{exp, s3exp}
	}

	gf := governanceprocessor.NewFactory()
	gcfg := gf.CreateDefaultConfig().(*governanceprocessor.Config)
	gcfg.AllowUnauthenticated = true
	gcfg.DefaultTenant = governanceprocessor.DefaultTenantConfig{OrgID: "org-a", TenantID: "tenant-a", ClientID: "client-a"}
	gcfg.Integrity.SigningKeyFile = keyFile
	gcfg.Integrity.CheckpointRecords = 7
	gcfg.Integrity.PostgresDSN = configopaque.String(dsn) // the chain registry and crash sealing
	require.NoError(t, gcfg.Validate())
	set := processortest.NewNopSettings(gf.Type())
	set.Resource.Attributes().PutStr("service.instance.id", testInstance) // every run is a restart of one instance
	proc, err := gf.CreateLogs(ctx, set, gcfg, next)
	require.NoError(t, err)
	require.NoError(t, proc.Start(ctx, componenttest.NewNopHost()))

	for _, batch := range batches {
		ld := plog.NewLogs()
		for _, shift := range batch {
			audittest.Raw(t, shift).ResourceLogs().MoveAndAppendTo(ld.ResourceLogs())
		}
		require.NoError(t, proc.ConsumeLogs(ctx, ld))
	}
	require.NoError(t, proc.Shutdown(ctx))
	require.NoError(t, exp.Shutdown(ctx))
	if s3exp != nil {
		require.NoError(t, s3exp.Shutdown(ctx))
	}
}

// fanout hands every batch to each exporter (a copy to all but the last), as the collector's fan-out does.
type fanout []consumer.Logs

func (f fanout) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

func (f fanout) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	for i, c := range f {
		in := ld
		if i < len(f)-1 {
			in = plog.NewLogs()
			ld.CopyTo(in)
		}
		if err := c.ConsumeLogs(ctx, in); err != nil {
			return err
		}
	}
	return nil
}

// testInstance is the service.instance.id of every collector run of these tests.
const testInstance = "govcol-test"

func verifyReport(t *testing.T, dsn, pub string) (string, error) {
	t.Helper()
	if bin := os.Getenv("GOVCTL_VERIFY_BIN"); bin != "" {
		// Another build's verifier (e.g. 994d622's, to show what it misses) on the same trail.
		out, err := exec.Command(bin, "verify", "--dsn", dsn, "--key", pub).CombinedOutput()
		if err != nil {
			err = errVerifyFailed
		}
		return string(out), err
	}
	var out bytes.Buffer
	err := runVerify(context.Background(), &out, verifyOptions{dsn: dsn, keys: []string{pub}, table: "audit_logs", checkpoints: "audit_checkpoints"}, time.Now())
	return out.String(), err
}

// attacker makes the database's objects belong to a new non-superuser role and returns its DSN: the privileges the
// collector had before issue 17 (it owned the schema: INSERT, SELECT, DELETE, and could disable the append-only
// triggers). The collector runs and the tampering below use it.
func attacker(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	role := "attacker_" + strings.TrimPrefix(u.Path, "/")
	if len(role) > 60 {
		role = role[:60]
	}
	db := strings.TrimPrefix(u.Path, "/")
	pgtest.Exec(t, dsn, "CREATE ROLE "+pgx.Identifier{role}.Sanitize()+" LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB")
	pgtest.Exec(t, dsn, "ALTER DATABASE "+pgx.Identifier{db}.Sanitize()+" OWNER TO "+pgx.Identifier{role}.Sanitize())
	pgtest.Exec(t, dsn, "ALTER SCHEMA public OWNER TO "+pgx.Identifier{role}.Sanitize())
	t.Cleanup(func() {
		if c, err := pgx.Connect(context.Background(), dsn); err == nil {
			_, _ = c.Exec(context.Background(), "REASSIGN OWNED BY "+pgx.Identifier{role}.Sanitize()+" TO CURRENT_USER")
			_ = c.Close(context.Background())
		}
	})
	u.User = url.User(role)
	return u.String()
}

// tamper runs SQL as the attacker role (not a superuser): it owns the tables, so it disables their append-only
// triggers first.
func tamper(t *testing.T, dsn string, sql ...string) {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer c.Close(ctx)
	var super bool
	require.NoError(t, c.QueryRow(ctx, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&super))
	require.False(t, super, "tampering runs as the non-superuser attacker role")
	rows, err := c.Query(ctx, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tableowner = current_user")
	require.NoError(t, err)
	var tables []string
	for rows.Next() {
		var n string
		require.NoError(t, rows.Scan(&n))
		tables = append(tables, n)
	}
	rows.Close()
	for _, n := range tables {
		_, err = c.Exec(ctx, "ALTER TABLE "+pgx.Identifier{n}.Sanitize()+" DISABLE TRIGGER USER")
		require.NoError(t, err)
	}
	for _, s := range sql {
		_, err = c.Exec(ctx, s)
		require.NoError(t, err, s)
	}
}

// chainOf is the chain with the most records (the first run's, in the tamper tests).
func chainOf(t *testing.T, dsn string) string {
	t.Helper()
	c, err := pgx.Connect(context.Background(), dsn)
	require.NoError(t, err)
	defer c.Close(context.Background())
	var id string
	require.NoError(t, c.QueryRow(context.Background(), "SELECT chain_id FROM audit_logs GROUP BY chain_id ORDER BY count(*) DESC LIMIT 1").Scan(&id))
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
	assert.EqualValues(t, 2, pgtest.QueryInt(t, dsn, "SELECT count(*) FROM audit_logs_chains WHERE kind = 'opened'"))
	// A window (--since) anchors each chain at its first record in it; a tenant filter reads that tenant only.
	var since bytes.Buffer
	err = runVerify(context.Background(), &since, verifyOptions{dsn: dsn, keys: []string{pub}, table: "audit_logs",
		checkpoints: "audit_checkpoints", since: "1h", tenant: "tenant-a"}, time.Now())
	require.NoError(t, err, since.String())
	assert.Contains(t, since.String(), "2 chains, 55 records checked", since.String())

	// A wrong key set: every checkpoint fails its signature.
	_, otherPub := signingKey(t)
	var js bytes.Buffer
	err = runVerify(context.Background(), &js, verifyOptions{dsn: dsn, keys: []string{otherPub}, table: "audit_logs",
		checkpoints: "audit_checkpoints", asJSON: true}, time.Now())
	require.ErrorIs(t, err, errVerifyFailed)
	assert.Equal(t, 7, strings.Count(js.String(), `"kind": "bad_signature"`), "every checkpoint (after each batch of 11: 3 + 2) and both chains' registry entries")
	assert.Contains(t, js.String(), `"kind": "uncovered_tail"`, "nothing is vouched for")
}

func TestVerifyDetectsTampering(t *testing.T) {
	key, pub := signingKey(t)
	fresh := func(t *testing.T) (string, string) {
		dsn := attacker(t, pgtest.NewDatabase(t))
		collectorRun(t, dsn, key, filepath.Join(t.TempDir(), "fb.jsonl"), []int{0, 1, 2}) // 33 records
		collectorRun(t, dsn, key, filepath.Join(t.TempDir(), "fb.jsonl"), []int{3})       // a restart: 11 more, a second chain
		out, err := verifyReport(t, dsn, pub)
		require.NoError(t, err, out)
		return dsn, chainOf(t, dsn)
	}
	in := func(chain string) string { return " AND chain_id = '" + chain + "'" }
	for name, tc := range map[string]struct {
		tamper func(t *testing.T, dsn, chain string)
		kind   string
		seq    int
	}{
		"modified": {func(t *testing.T, dsn, chain string) {
			tamper(t, dsn, "UPDATE audit_logs SET query = 'nothing to see' WHERE chain_seq = 12"+in(chain))
		}, integrity.KindModified, 12},
		"modified JSON column": {func(t *testing.T, dsn, chain string) {
			tamper(t, dsn, `UPDATE audit_logs SET metadata = metadata || '{"tampered": true}' WHERE chain_seq = 12`+in(chain))
		}, integrity.KindModified, 12},
		"modified JSON value, same text length": {func(t *testing.T, dsn, chain string) {
			tamper(t, dsn, `UPDATE audit_logs SET policy_details = replace(policy_details::text, '"matched": false', '"matched": true ')::jsonb WHERE chain_seq = 14`+in(chain))
		}, integrity.KindModified, 14},
		"deleted middle row": {func(t *testing.T, dsn, chain string) {
			tamper(t, dsn, "DELETE FROM audit_logs WHERE chain_seq = 20"+in(chain))
		}, integrity.KindDeleted, 20},
		"swapped sequence numbers": {func(t *testing.T, dsn, chain string) {
			tamper(t, dsn, "UPDATE audit_logs SET chain_seq = CASE chain_seq WHEN 8 THEN 9 ELSE 8 END WHERE chain_seq IN (8, 9)"+in(chain))
		}, integrity.KindReordered, 8},
		"truncated tail": {func(t *testing.T, dsn, chain string) {
			tamper(t, dsn, "DELETE FROM audit_logs WHERE chain_seq > 31"+in(chain))
		}, integrity.KindDeleted, 32},
		"forged checkpoint": {func(t *testing.T, dsn, chain string) {
			tamper(t, dsn, "UPDATE audit_checkpoints SET last_hash = 'v1:'||repeat('0', 64) WHERE last_seq = 22"+in(chain))
		}, integrity.KindBadSignature, 22},
		"forged inserted row": {forgeRow, integrity.KindInserted, 5},
		// Issue 17, finding 2.
		"deleted head": {func(t *testing.T, dsn, chain string) {
			tamper(t, dsn, "DELETE FROM audit_logs WHERE chain_seq <= 10"+in(chain))
		}, integrity.KindDeleted, 1},
		"deleted whole chain with its checkpoints": {func(t *testing.T, dsn, chain string) {
			tamper(t, dsn, "DELETE FROM audit_logs WHERE true"+in(chain), "DELETE FROM audit_checkpoints WHERE true"+in(chain))
		}, integrity.KindDeleted, 1},
		"deleted whole chain with its checkpoints and registry entry": {func(t *testing.T, dsn, chain string) {
			tamper(t, dsn, "DELETE FROM audit_logs WHERE true"+in(chain), "DELETE FROM audit_checkpoints WHERE true"+in(chain),
				"DELETE FROM audit_logs_chains WHERE true"+in(chain))
		}, integrity.KindDeleted, 0},
		"unchained row": {func(t *testing.T, dsn, chain string) {
			tamper(t, dsn, "CREATE TEMP TABLE u AS SELECT * FROM audit_logs WHERE chain_seq = 3"+in(chain),
				"UPDATE u SET id = 'aud_unchained', chain_id = NULL, chain_seq = NULL, prev_hash = NULL, record_hash = NULL",
				"INSERT INTO audit_logs SELECT * FROM u")
		}, integrity.KindUnchained, 0},
		"foreign chain": {func(t *testing.T, dsn, chain string) {
			forgeChain(t, dsn, chain)
		}, integrity.KindUnregistered, 1},
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

// forgeChain stores a well-formed one-record chain that no collector opened: its hash is correct, nothing signs it.
func forgeChain(t *testing.T, dsn, chain string) {
	c, err := pgx.Connect(context.Background(), dsn)
	require.NoError(t, err)
	defer c.Close(context.Background())
	entries, _, err := store.Load(context.Background(), c, store.Source{Table: "audit_logs", CheckpointsTable: "audit_checkpoints"})
	require.NoError(t, err)
	forged := entries[chain][0]
	forged.Record.ID, forged.Record.ChainID, forged.Record.ChainSeq, forged.Record.PrevHash = "aud_foreign", "elsewhere/tenant-a/1", 1, ""
	b, err := forged.Record.CanonicalWithJSON(forged.JSON)
	require.NoError(t, err)
	tamper(t, dsn,
		"CREATE TEMP TABLE f AS SELECT * FROM audit_logs WHERE id = '"+entries[chain][0].Record.ID+"'",
		"UPDATE f SET id = 'aud_foreign', chain_id = 'elsewhere/tenant-a/1', chain_seq = 1, prev_hash = NULL, record_hash = '"+audit.HashOf(b)+"'",
		"INSERT INTO audit_logs SELECT * FROM f")
}

// forgeRow inserts a well-formed record at position 5: its hash is correct (the algorithm is public) and it links to
// record 4, but record 5 already exists.
func forgeRow(t *testing.T, dsn, chain string) {
	c, err := pgx.Connect(context.Background(), dsn)
	require.NoError(t, err)
	defer c.Close(context.Background())
	entries, _, err := store.Load(context.Background(), c, store.Source{Table: "audit_logs", CheckpointsTable: "audit_checkpoints"})
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

// Issue 17, finding 3: a run that crashed (here: its last checkpoints never written, as after SIGKILL) leaves its
// chain with an unsigned tail; the next run of the same instance checks the stored tail and seals it, and the trail
// verifies, naming any records that never arrived.
func TestVerifyAfterCrashSealing(t *testing.T) {
	key, pub := signingKey(t)
	for name, tc := range map[string]struct {
		lost   string // records of the crashed run that never arrived
		change string // tampering with the unsigned tail before the restart
		want   string
	}{
		"nothing lost": {"", "", "sealed after a crash by a later run"},
		"records lost": {"30, 31", "", "lost in the crash, never stored: 30-31"},
		// A tail that does not check out is not sealed: verify reports it.
		"changed tail": {"", "UPDATE audit_logs SET query = 'nothing to see' WHERE chain_seq = 25", "FAILED: " + integrity.KindUncoveredTail + " at seq 12: records 12..33 are not covered by a signed checkpoint (+1 more)"},
	} {
		t.Run(name, func(t *testing.T) {
			dsn := pgtest.NewDatabase(t)
			collectorRun(t, dsn, key, filepath.Join(t.TempDir(), "fb.jsonl"), []int{0, 1, 2}) // 33 records
			chain := chainOf(t, dsn)
			// The crash: nothing signed after record 11 (the checkpoints at 22 and 33 never written), and the records
			// in flight lost.
			crash := []string{"SET session_replication_role = replica", "DELETE FROM audit_checkpoints WHERE last_seq > 11"}
			if tc.lost != "" {
				crash = append(crash, "DELETE FROM audit_logs WHERE chain_seq IN ("+tc.lost+")")
			}
			if tc.change != "" {
				crash = append(crash, tc.change)
			}
			c, err := pgx.Connect(context.Background(), dsn)
			require.NoError(t, err)
			for _, s := range crash {
				_, err := c.Exec(context.Background(), s)
				require.NoError(t, err, s)
			}
			require.NoError(t, c.Close(context.Background()))
			out, err := verifyReport(t, dsn, pub)
			require.ErrorIs(t, err, errVerifyFailed, "before the restart the tail is unsigned: %s", out)
			assert.Contains(t, out, "FAILED: "+integrity.KindUncoveredTail, out)

			collectorRun(t, dsn, key, filepath.Join(t.TempDir(), "fb.jsonl"), []int{3}) // the restart
			seals := pgtest.QueryInt(t, dsn, "SELECT count(*) FROM audit_logs_chains WHERE kind = 'sealed' AND chain_id = $1", chain)
			out, err = verifyReport(t, dsn, pub)
			if tc.change != "" {
				assert.Zero(t, seals)
				require.ErrorIs(t, err, errVerifyFailed, out)
				assert.Contains(t, out, tc.want, out)
				return
			}
			assert.EqualValues(t, 1, seals)
			require.NoError(t, err, out)
			assert.Contains(t, out, tc.want, out)
			assert.Equal(t, 2, strings.Count(out, ": OK"), out)
		})
	}
}

// Issue 17, finding 5: verification no longer holds a tenant's records in memory. `govctl verify` (this test binary
// run as the command, or GOVCTL_VERIFY_BIN) over 44,000 records in one chain stays under a fixed peak RSS; loading
// them all (994d622's verify) does not.
func TestVerifyMemoryIsBounded(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	key, pub := signingKey(t)
	var batches [][]int
	for i := 0; i < 4_000; i += 50 {
		batch := make([]int, 50)
		for j := range batch {
			batch[j] = i + j
		}
		batches = append(batches, batch)
	}
	collectorRunBatches(t, dsn, key, filepath.Join(t.TempDir(), "fb.jsonl"), batches) // 44,000 records
	bin, env := os.Args[0], []string{"GOVCTL_TEST_RUN_MAIN=1"}
	if b := os.Getenv("GOVCTL_VERIFY_BIN"); b != "" {
		bin, env = b, nil
	}
	cmd := exec.Command(bin, "verify", "--dsn", dsn, "--key", pub)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "44000 records checked")
	peakMiB := float64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) / 1024
	t.Logf("govctl verify over 44,000 records: peak RSS %.0f MiB", peakMiB)
	assert.Less(t, peakMiB, 100.0, "peak RSS of verify over 44,000 records (MiB)")
}

// --table and --checkpoints-table go into SQL: verify refuses anything but the store's plain identifiers before it
// connects (the shared rule of internal/store/storeconfig).
func TestVerifyRefusesTableNamesThatAreNotIdentifiers(t *testing.T) {
	for _, o := range []verifyOptions{
		{table: "audit_logs; DROP TABLE audit_logs", checkpoints: "audit_checkpoints"},
		{table: "audit_logs", checkpoints: `audit_checkpoints"`},
		{table: "audit_logs", checkpoints: "audit_logs"},
	} {
		o.dsn, o.keys = "postgres://nobody@127.0.0.1:1/none", []string{"unused.pem"}
		err := runVerify(context.Background(), io.Discard, o, time.Now())
		require.ErrorContains(t, err, "must match", "%+v", o)
	}
}
