package postgresauditexporter

// Issue 16, finding 4: one bad record never blocks the others. A row Postgres refuses for a data reason (SQLSTATE
// class 22, 23 or 54) is dead-lettered and every other row of the batch (whatever its tenant) is stored, in normal
// writes and in fallback replay alike; a record over a column cap (audit.ColumnCaps) is dead-lettered as oversize
// before it reaches Postgres. These tests fail on 994d622 (54000 was retried forever; there was no cap check).

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/audittest"
	"github.com/govcol/govcol/internal/integrity"
	"github.com/govcol/govcol/internal/pgtest"
)

// twoTenants is one batch holding the governed fixture of tenant-a and of tenant-b (22 records, fresh ids).
func twoTenants(t *testing.T) plog.Logs {
	t.Helper()
	ld := renumber(governed(t, "tenant-a"), time.Time{})
	renumber(governed(t, "tenant-b"), time.Time{}).ResourceLogs().MoveAndAppendTo(ld.ResourceLogs())
	require.Equal(t, 22, ld.LogRecordCount())
	return ld
}

// logRecordsOf returns the log records of tenant in ld.
func logRecordsOf(ld plog.Logs, tenant string) []plog.LogRecord {
	var out []plog.LogRecord
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				if v, ok := lr.Attributes().Get(audit.AttrTenantID); ok && v.Str() == tenant {
					out = append(out, lr)
				}
			}
		}
	}
	return out
}

// randomText is n characters no compression shrinks (random hex), so Postgres cannot fit it in an index entry.
func randomText(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, (n+1)/2)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)[:n]
}

type deadLine struct {
	Reason string          `json:"reason"`
	Error  string          `json:"error"`
	Record json.RawMessage `json:"record"`
}

// readDeadLetters returns the dead-letter file's entries and its raw text.
func readDeadLetters(t *testing.T, cfg *Config) ([]deadLine, string) {
	t.Helper()
	b, err := os.ReadFile(cfg.deadLetterPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, ""
	}
	require.NoError(t, err)
	var out []deadLine
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var d deadLine
		require.NoError(t, json.Unmarshal([]byte(l), &d))
		out = append(out, d)
	}
	return out, string(b)
}

// deadLetteredBy is the postgresaudit_dead_lettered counter by reason.
func deadLetteredBy(t *testing.T, tel *componenttest.Telemetry) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	m, err := tel.GetMetric("otelcol_postgresaudit_dead_lettered")
	if err != nil {
		return out
	}
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		r, _ := dp.Attributes.Value("reason")
		out[r.AsString()] += dp.Value
	}
	return out
}

// writeAttempts is how many batch writes succeeded (the batch_size histogram's count).
func writeAttempts(t *testing.T, tel *componenttest.Telemetry) uint64 {
	t.Helper()
	m, err := tel.GetMetric("otelcol_postgresaudit_batch_size")
	require.NoError(t, err)
	var n uint64
	for _, dp := range m.Data.(metricdata.Histogram[int64]).DataPoints {
		n += dp.Count
	}
	return n
}

func checkpointFor(tenant string, seq int64) integrity.Checkpoint {
	return integrity.Checkpoint{ChainID: "chain-" + tenant, TenantID: tenant, LastSeq: seq, LastHash: strings.Repeat("ab", 32),
		KeyID: "key-1", SignedAt: time.Now().UTC().Truncate(time.Microsecond), Signature: "c2lnbmF0dXJl"}
}

// storedIDs reports which of ids are in audit_logs.
func countStored(t *testing.T, dsn string, ids []string) int64 {
	return queryInt(t, dsn, "SELECT count(*) FROM audit_logs WHERE id = ANY($1)", ids)
}

// (a) One row with a data error of each class, in a batch of two tenants with their checkpoints, written by the
// store path itself (the 12 KB request_id could not get past the cap check in convert). The rest of the batch and
// both checkpoints are stored, the bad row is dead-lettered with its SQLSTATE (never its value), the counter rises,
// and the write returns nil (nothing for exporterhelper to retry, nothing spilled).
func TestDataErrorOnOneRowNeverBlocksTheOthers(t *testing.T) {
	bigRequestID := randomText(t, 12<<10)
	cases := []struct {
		name   string
		state  string
		poison func(r *audit.Record)
		value  string // must not appear in the dead-letter file
	}{
		{"class 22: NUL byte in text", "22021", func(r *audit.Record) { r.RequestID = "req_\x00_nul" }, ""},
		{"class 22: timestamp out of range", "22008", func(r *audit.Record) { r.Timestamp = time.Date(-5000, 1, 1, 0, 0, 0, 0, time.UTC) }, ""},
		{"class 23: policy_decision check", "23514", func(r *audit.Record) { r.PolicyDecision = "maybe" }, ""},
		{"class 54: 12 KB request_id in an index", "54000", func(r *audit.Record) { r.RequestID = bigRequestID }, bigRequestID},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dsn := pgtest.NewDatabase(t)
			tel := componenttest.NewTelemetry()
			t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
			cfg := testConfig(t, dsn)
			e := startExporter(t, cfg, tel)

			recs, cps, bad := e.convert(twoTenants(t))
			require.Empty(t, bad)
			require.Empty(t, cps)
			require.Len(t, recs, 22)
			var bi int // the poisoned record: one of tenant-b's, in the middle of the batch
			for i := range recs {
				if recs[i].TenantID == "tenant-b" {
					bi = i + 3
					break
				}
			}
			require.Equal(t, "tenant-b", recs[bi].TenantID)
			tc.poison(&recs[bi])
			poisonID := recs[bi].ID
			var good []string
			for i := range recs {
				if i != bi {
					good = append(good, recs[i].ID)
				}
			}
			cps = []integrity.Checkpoint{checkpointFor("tenant-a", 11), checkpointFor("tenant-b", 11)}

			require.NoError(t, e.store(context.Background(), recs, cps), "a data error is not a reason to retry the batch")

			assert.EqualValues(t, 21, countStored(t, dsn, good), "every other row, of both tenants, is stored")
			assert.EqualValues(t, 11, queryInt(t, dsn, "SELECT count(*) FROM audit_logs WHERE tenant_id = 'tenant-a'"))
			assert.EqualValues(t, 10, queryInt(t, dsn, "SELECT count(*) FROM audit_logs WHERE tenant_id = 'tenant-b'"))
			assert.Zero(t, queryInt(t, dsn, "SELECT count(*) FROM audit_logs WHERE id = $1", poisonID))
			assert.EqualValues(t, 2, queryInt(t, dsn, "SELECT count(*) FROM audit_checkpoints"), "the checkpoints of the same write are stored")

			dl, text := readDeadLetters(t, cfg)
			require.Len(t, dl, 1)
			assert.Equal(t, "rejected", dl[0].Reason)
			assert.Contains(t, dl[0].Error, "SQLSTATE "+tc.state)
			var r audit.Record
			require.NoError(t, json.Unmarshal(dl[0].Record, &r))
			assert.Equal(t, poisonID, r.ID)
			if tc.value != "" {
				assert.NotContains(t, text, tc.value[:64], "the dead-letter file never holds the oversize value")
			}
			assert.Equal(t, map[string]int64{"rejected": 1}, deadLetteredBy(t, tel))
			assert.Zero(t, e.fb.depth(), "nothing spilled")
		})
	}

	// Several bad rows of different classes in one larger batch: bisection finds each of them.
	t.Run("three classes in one batch of 220", func(t *testing.T) {
		dsn := pgtest.NewDatabase(t)
		tel := componenttest.NewTelemetry()
		t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
		cfg := testConfig(t, dsn)
		e := startExporter(t, cfg, tel)
		var recs []audit.Record
		for range 10 {
			r, _, _ := e.convert(twoTenants(t))
			recs = append(recs, r...)
		}
		require.Len(t, recs, 220)
		recs[7].RequestID = "nul\x00"
		recs[108].PolicyDecision = "maybe"
		recs[219].RequestID = bigRequestID
		require.NoError(t, e.store(context.Background(), recs, []integrity.Checkpoint{checkpointFor("tenant-a", 110)}))
		assert.EqualValues(t, 217, queryInt(t, dsn, "SELECT count(*) FROM audit_logs"))
		assert.EqualValues(t, 1, queryInt(t, dsn, "SELECT count(*) FROM audit_checkpoints"))
		dl, _ := readDeadLetters(t, cfg)
		states := map[string]bool{}
		for _, d := range dl {
			assert.Equal(t, "rejected", d.Reason)
			states[d.Error[:len("SQLSTATE 00000")]] = true
		}
		assert.Equal(t, map[string]bool{"SQLSTATE 22021": true, "SQLSTATE 23514": true, "SQLSTATE 54000": true}, states)
		assert.Equal(t, map[string]int64{"rejected": 3}, deadLetteredBy(t, tel))
	})
}

// (a), through the public path: exporterhelper without a queue (so ConsumeLogs returns what the export returned)
// and with a long retry budget (so a retried batch would hold ConsumeLogs past its deadline). A tenant-b record
// whose request_id carries a NUL byte (under the cap, refused by Postgres with 22021) is dead-lettered; ConsumeLogs
// returns nil at once and both tenants' other records are stored.
func TestDataErrorThroughConsumeLogsIsNotRetried(t *testing.T) {
	dsn, tel, cfg, exp, e := unqueuedExporter(t)

	ld := twoTenants(t)
	lr := logRecordsOf(ld, "tenant-b")[4]
	lr.Attributes().PutStr(audit.AttrRequestID, "req_\x00_nul")
	poisonID := audittest.Record(t, lr).ID

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	require.NoError(t, exp.ConsumeLogs(ctx, ld))
	assert.Less(t, time.Since(start), 10*time.Second, "no retry")

	assert.EqualValues(t, 21, queryInt(t, dsn, "SELECT count(*) FROM audit_logs"))
	assert.EqualValues(t, 11, queryInt(t, dsn, "SELECT count(*) FROM audit_logs WHERE tenant_id = 'tenant-a'"))
	assert.Zero(t, queryInt(t, dsn, "SELECT count(*) FROM audit_logs WHERE id = $1", poisonID))
	dl, _ := readDeadLetters(t, cfg)
	require.Len(t, dl, 1)
	assert.Equal(t, "rejected", dl[0].Reason)
	assert.Contains(t, dl[0].Error, "SQLSTATE 22021")
	assert.Equal(t, map[string]int64{"rejected": 1}, deadLetteredBy(t, tel))
	assert.Zero(t, e.fb.depth())
	assert.Zero(t, sumOf(t, tel, "otelcol_postgresaudit_fallback_spilled"))
}

// (b) Replay: a fallback file left by an earlier run holds good records of two tenants, a checkpoint, and poison
// lines: a record Postgres refuses (NUL byte, 22021), a record over its cap (12 KB request_id) and a torn line. The
// next start replays it: the file empties, every good record and the checkpoint are stored, each poison line is in
// the dead-letter file with its reason.
func TestReplayDeadLettersPoisonLinesAndEmptiesTheFile(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	cfg := testConfig(t, dsn)
	cfg.Fallback.ReplayBatchSize = 7 // several replay batches; the poison lines land inside them

	// The converter of a throwaway exporter (nothing started) reads the records as a spill would have written them.
	conv, err := newAuditExporter(cfg, componenttest.NewNopTelemetrySettings())
	require.NoError(t, err)
	recs, _, bad := conv.convert(twoTenants(t))
	require.Empty(t, bad)
	big := randomText(t, 12<<10)
	nulID, bigID := recs[5].ID, recs[16].ID
	recs[5].RequestID = "req_\x00_nul"
	recs[16].RequestID = big
	var good []string
	for i := range recs {
		if i != 5 && i != 16 {
			good = append(good, recs[i].ID)
		}
	}
	var lines []string
	for i := range recs {
		b, err := json.Marshal(&recs[i])
		require.NoError(t, err)
		lines = append(lines, string(b))
		if i == 9 {
			lines = append(lines, `{"id":"aud_torn","decision_`)
		}
	}
	cp := checkpointFor("tenant-b", 11)
	b, err := json.Marshal(checkpointLine{Kind: integrity.KindCheckpoint, Checkpoint: &cp})
	require.NoError(t, err)
	lines = append(lines, string(b))
	require.NoError(t, os.WriteFile(cfg.Fallback.Path, []byte(strings.Join(lines, "\n")+"\n"), 0o600))

	e := startExporter(t, cfg, tel)
	eventually(t, 30*time.Second, "the fallback file replayed", func() bool { return e.fb.depth() == 0 })
	for _, p := range []string{cfg.Fallback.Path, replayingPath(cfg.Fallback.Path)} {
		if st, err := os.Stat(p); err == nil {
			assert.Zero(t, st.Size(), p)
		}
	}
	assert.EqualValues(t, 20, countStored(t, dsn, good))
	assert.EqualValues(t, 20, queryInt(t, dsn, "SELECT count(*) FROM audit_logs"))
	assert.EqualValues(t, 1, queryInt(t, dsn, "SELECT count(*) FROM audit_checkpoints WHERE tenant_id = 'tenant-b'"))

	dl, text := readDeadLetters(t, cfg)
	reasons := map[string]string{}
	for _, d := range dl {
		var r struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(d.Record, &r) != nil || r.ID == "" {
			r.ID = "torn"
		}
		reasons[r.ID] = d.Reason + ": " + d.Error
	}
	require.Len(t, reasons, 3, text)
	assert.Contains(t, reasons[nulID], "rejected: SQLSTATE 22021")
	assert.Contains(t, reasons[bigID], "oversize: audit record: request_id is 12288 bytes, over its cap of 128")
	assert.Contains(t, reasons["torn"], "malformed: fallback line")
	assert.NotContains(t, text, big[:64], "the dead-letter file never holds the oversize value")
	assert.Equal(t, map[string]int64{"rejected": 1, "oversize": 1, "malformed": 1}, deadLetteredBy(t, tel))
	assert.EqualValues(t, 20, sumOf(t, tel, "otelcol_postgresaudit_replayed"), "replayed counts the records stored")
}

// (c) The cap check: through ConsumeLogs, a tenant-b record with a 12 KB request_id and a tenant-a record with a
// 4 KB user_id are dead-lettered as oversize (the error names the column and the sizes, never the value) and never
// reach Postgres: the other 20 records go in one write, nothing is refused, retried or spilled.
func TestOverCapRecordIsDeadLetteredAsOversizeBeforePostgres(t *testing.T) {
	dsn, tel, cfg, exp, e := unqueuedExporter(t)

	ld := twoTenants(t)
	bigReq, bigUser := randomText(t, 12<<10), randomText(t, 4<<10)
	b := logRecordsOf(ld, "tenant-b")[2]
	b.Attributes().PutStr(audit.AttrRequestID, bigReq)
	a := logRecordsOf(ld, "tenant-a")[8]
	a.Attributes().PutStr(audit.AttrUserID, bigUser)
	bID, aID := audittest.Record(t, b).ID, audittest.Record(t, a).ID

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, exp.ConsumeLogs(ctx, ld))

	assert.EqualValues(t, 20, queryInt(t, dsn, "SELECT count(*) FROM audit_logs"))
	assert.Zero(t, queryInt(t, dsn, "SELECT count(*) FROM audit_logs WHERE id = ANY($1)", []string{bID, aID}))
	assert.EqualValues(t, 1, writeAttempts(t, tel), "one write: the oversize records were never sent to Postgres")

	dl, text := readDeadLetters(t, cfg)
	require.Len(t, dl, 2)
	errs := map[string]string{}
	for _, d := range dl {
		assert.Equal(t, "oversize", d.Reason)
		var r audit.Record
		require.NoError(t, json.Unmarshal(d.Record, &r))
		errs[r.ID] = d.Error
		assert.NotEmpty(t, r.TenantID, "the rest of the record is kept for the operator")
	}
	assert.Equal(t, "audit record: request_id is 12288 bytes, over its cap of 128", errs[bID])
	assert.Equal(t, "audit record: user_id is 4096 bytes, over its cap of 128", errs[aID])
	assert.NotContains(t, text, bigReq[:64])
	assert.NotContains(t, text, bigUser[:64])
	assert.Contains(t, text, "[withheld: 12288 bytes, over the cap of 128]")
	assert.Equal(t, map[string]int64{"oversize": 2}, deadLetteredBy(t, tel))
	assert.Zero(t, e.fb.depth())
	assert.Zero(t, sumOf(t, tel, "otelcol_postgresaudit_fallback_spilled"))
}

// The classification itself: data errors (classes 22, 23, 54) split the batch; everything else keeps it whole on the
// retry / fallback path.
func TestIsPermanentClassifiesDataErrors(t *testing.T) {
	for code, want := range map[string]bool{
		"22021": true, "22008": true, "22P02": true, "23514": true, "23502": true, "23505": true, "54000": true, "54001": true,
		"08006": false, "57P01": false, "40001": false, "40P01": false, "42P01": false, "53300": false, "XX000": false,
	} {
		assert.Equal(t, want, isPermanent(&pgconn.PgError{Code: code}), code)
	}
	assert.False(t, isPermanent(context.DeadlineExceeded))
	assert.False(t, isPermanent(errors.New("connection refused")))
}

// A replay cut short by an outage keeps its range of the file, bad lines included, and dead-letters nothing of it
// yet: once Postgres is back each poison line is dead-lettered exactly once (994d622 dead-lettered the torn line on
// every failed attempt and kept it in the file).
func TestReplayDuringOutageDeadLettersEachLineOnce(t *testing.T) {
	cluster := pgtest.NewCluster(t)
	dsn := cluster.DSN("")
	cfg := testConfig(t, dsn)
	shortRetry(cfg)
	conv, err := newAuditExporter(cfg, componenttest.NewNopTelemetrySettings())
	require.NoError(t, err)
	recs, _, _ := conv.convert(twoTenants(t))
	var lines []string
	for i := range recs {
		b, err := json.Marshal(&recs[i])
		require.NoError(t, err)
		lines = append(lines, string(b))
		if i == 3 {
			lines = append(lines, `{"id":"aud_torn","decision_`)
		}
	}
	require.NoError(t, os.WriteFile(cfg.Fallback.Path, []byte(strings.Join(lines, "\n")+"\n"), 0o600))

	stopCluster(t, cluster)
	e := startExporter(t, cfg, nil)
	time.Sleep(1500 * time.Millisecond) // several replay attempts fail (every 100 ms)
	assert.EqualValues(t, 23, e.fb.depth(), "nothing of the file is settled while Postgres is down")
	dl, _ := readDeadLetters(t, cfg)
	assert.Empty(t, dl)
	startCluster(t, cluster)
	eventually(t, 30*time.Second, "the fallback file replayed", func() bool { return e.fb.depth() == 0 })
	assert.EqualValues(t, 22, queryInt(t, dsn, "SELECT count(*) FROM audit_logs"))
	dl, text := readDeadLetters(t, cfg)
	require.Len(t, dl, 1, text)
	assert.Equal(t, "malformed", dl[0].Reason)
}

// unqueuedExporter starts the exporter through exporterhelper without a queue (ConsumeLogs returns what the export
// returned) and with a 10-minute retry budget (a retried batch would hold ConsumeLogs past any test deadline), on a
// fresh database with own telemetry.
func unqueuedExporter(t *testing.T) (string, *componenttest.Telemetry, *Config, exporter.Logs, *auditExporter) {
	t.Helper()
	dsn := pgtest.NewDatabase(t)
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	cfg := testConfig(t, dsn)
	cfg.QueueConfig = configoptional.None[exporterhelper.QueueBatchConfig]()
	cfg.BackOffConfig.MaxElapsedTime = 10 * time.Minute
	exp, e := pipelineExporter(t, cfg, tel)
	t.Cleanup(func() { _ = exp.Shutdown(context.Background()) })
	return dsn, tel, cfg, exp, e
}
