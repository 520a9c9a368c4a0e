package s3decisionexporter

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/govcol/govcol/internal/audittest"
	"github.com/govcol/govcol/internal/pgtest"
	"github.com/govcol/govcol/internal/s3test"
)

// selectedSQL is the default selection written in SQL over audit_logs: the independent expectation of the tests.
const selectedSQL = `SELECT decision_id::text FROM audit_logs WHERE metadata->>'event_name' IN ('tool_decision', 'code_edit_tool_decision') OR policy_decision <> 'allowed'`

func selectedInPostgres(t testing.TB, dsn string) map[string]bool {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	rows, err := conn.Query(context.Background(), selectedSQL)
	require.NoError(t, err)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	sel := map[string]bool{}
	for _, id := range ids {
		sel[id] = true
	}
	return sel
}

// storeContents lists the bucket's decisions: decision id → how many times it is stored (per-decision objects
// and the lines of batched objects), and the keys.
func storeContents(t testing.TB, srv *s3test.Server, bucket, prefix string) (map[string]int, []string) {
	t.Helper()
	ctx := context.Background()
	client := srv.Client()
	ids := map[string]int{}
	var keys []string
	p := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix + "/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		require.NoError(t, err)
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			keys = append(keys, key)
			switch {
			case strings.HasSuffix(key, ".jsonl.gz"):
				obj, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: o.Key})
				require.NoError(t, err)
				b, err := io.ReadAll(obj.Body)
				obj.Body.Close()
				require.NoError(t, err)
				zr, err := gzip.NewReader(bytes.NewReader(b))
				require.NoError(t, err)
				sc := bufio.NewScanner(zr)
				sc.Buffer(nil, 1<<20)
				for sc.Scan() {
					var d Decision
					require.NoError(t, json.Unmarshal(sc.Bytes(), &d))
					ids[d.DecisionID]++
				}
				require.NoError(t, sc.Err())
			case strings.HasSuffix(key, ".json") && !strings.Contains(key, "/checkpoints/"):
				name := key[strings.LastIndexByte(key, '/')+1:]
				ids[strings.TrimSuffix(name, ".json")]++
			}
		}
	}
	return ids, keys
}

// copiesAt returns n renumbered copies of the governed fixture, copy i at time first + i*step.
func copiesAt(base plog.Logs, n int, first time.Time, step time.Duration) plog.Logs {
	out := plog.NewLogs()
	for i := range n {
		audittest.Renumber(base, first.Add(time.Duration(i)*step)).ResourceLogs().MoveAndAppendTo(out.ResourceLogs())
	}
	return out
}

func reconcileConfig(srv *s3test.Server, bucket, dsn string) *Config {
	cfg := bucketConfig(srv, bucket)
	cfg.Selection = DefaultSelection
	cfg.Reconcile.PostgresDSN = configopaque.String(dsn)
	cfg.Reconcile.Interval = 200 * time.Millisecond
	cfg.Reconcile.Slice = 10 * time.Second
	cfg.Reconcile.Settle = time.Second
	cfg.Reconcile.InitialLookback = time.Hour
	cfg.Reconcile.MaxSlicesPerPass = 1000
	return cfg
}

func sumInt(t testing.TB, tel *componenttest.Telemetry, name string) int64 {
	m, err := tel.GetMetric(name)
	if err != nil {
		return 0
	}
	var n int64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		n += dp.Value
	}
	return n
}

func completePasses(t testing.TB, tel *componenttest.Telemetry) int64 {
	m, err := tel.GetMetric("otelcol_s3decision_reconcile_passes")
	if err != nil {
		return 0
	}
	var n int64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		if v, _ := dp.Attributes.Value("result"); v.AsString() == "complete" {
			n += dp.Value
		}
	}
	return n
}

func assertComplete(t *testing.T, srv *s3test.Server, bucket, dsn string) map[string]int {
	t.Helper()
	want := selectedInPostgres(t, dsn)
	var got map[string]int
	eventually(t, 60*time.Second, "the store holds every selected decision", func() bool {
		got, _ = storeContents(t, srv, bucket, "axonflow/decisions")
		return len(got) == len(want)
	})
	for id := range want {
		assert.Equal(t, 1, got[id], "decision %s stored once", id)
	}
	for id := range got {
		assert.True(t, want[id], "only selected decisions are stored: %s", id)
	}
	return got
}

// Postgres holds 40 sessions; the live path shipped the decisions of 10 of them; the reconciler puts the rest under
// the same keys, keeps its watermark in the bucket, ships nothing again after a restart, and picks up rows that
// arrive late behind its watermark.
func TestReconcilerCompletesThePerDecisionStore(t *testing.T) {
	srv := s3test.Start(t)
	srv.Env(t)
	srv.CreateBucket(t, "decisions", false)
	dsn := pgtest.NewDatabase(t)
	base := governed(t, "tenant-a")
	now := time.Now().UTC()
	live := copiesAt(base, 10, now.Add(-20*time.Minute), 7*time.Second)
	later := copiesAt(base, 30, now.Add(-19*time.Minute), 13*time.Second)
	storeInPostgres(t, dsn, live)
	storeInPostgres(t, dsn, later)

	// The live path alone (no reconciler) ships the selected decisions of the first 10 sessions.
	cfg := bucketConfig(srv, "decisions")
	cfg.Selection = DefaultSelection
	tel := newTel(t)
	exp, _ := startPipelineExporter(t, cfg, tel)
	require.NoError(t, exp.ConsumeLogs(context.Background(), live))
	eventually(t, 30*time.Second, "live shipped", func() bool { return outcomes(t, tel)["shipped"] == 30 })
	assert.Equal(t, int64(80), outcomes(t, tel)["not_selected"], "8 of 11 records are activity")
	require.NoError(t, exp.Shutdown(context.Background()))

	tel = newTel(t)
	rcfg := reconcileConfig(srv, "decisions", dsn)
	_, e := startPipelineExporter(t, rcfg, tel)
	assertComplete(t, srv, "decisions", dsn)
	eventually(t, 30*time.Second, "a complete pass", func() bool { return completePasses(t, tel) > 0 })
	assert.Equal(t, int64(90), sumInt(t, tel, "otelcol_s3decision_reconciled"), "only the 30 sessions the live path missed")
	st, err := loadState(context.Background(), e.store, "axonflow/decisions")
	require.NoError(t, err)
	require.NotNil(t, st)
	assert.WithinDuration(t, time.Now().Add(-rcfg.Reconcile.Settle), st.Watermark, 15*time.Second)
	require.NoError(t, e.shutdown(context.Background()))

	// Restarted: it resumes from the stored watermark and puts nothing again; late rows behind the watermark (within
	// reconcile.recheck) are found by their slice's count and shipped.
	tel = newTel(t)
	startPipelineExporter(t, reconcileConfig(srv, "decisions", dsn), tel)
	eventually(t, 30*time.Second, "a complete pass", func() bool { return completePasses(t, tel) > 0 })
	assert.Zero(t, sumInt(t, tel, "otelcol_s3decision_reconciled"))
	storeInPostgres(t, dsn, copiesAt(base, 5, now.Add(-25*time.Minute), 11*time.Second))
	assertComplete(t, srv, "decisions", dsn)
	eventually(t, 30*time.Second, "late rows reconciled", func() bool { return sumInt(t, tel, "otelcol_s3decision_reconciled") == 15 })
}

// The batched layout: the live path's hourly objects plus the reconciler's objects hold every selected decision
// exactly once, and a restarted reconciler adds no object.
func TestReconcilerCompletesTheBatchedStore(t *testing.T) {
	srv := s3test.Start(t)
	srv.Env(t)
	srv.CreateBucket(t, "decisions", false)
	dsn := pgtest.NewDatabase(t)
	base := governed(t, "tenant-a")
	now := time.Now().UTC()
	live := copiesAt(base, 10, now.Add(-20*time.Minute), 7*time.Second)
	storeInPostgres(t, dsn, live)
	storeInPostgres(t, dsn, copiesAt(base, 30, now.Add(-19*time.Minute), 13*time.Second))

	cfg := bucketConfig(srv, "decisions")
	cfg.Selection = DefaultSelection
	cfg.Layout = LayoutBatched
	cfg.Batch.MaxRecords = 7
	tel := newTel(t)
	exp, _ := startPipelineExporter(t, cfg, tel)
	require.NoError(t, exp.ConsumeLogs(context.Background(), live))
	require.NoError(t, exp.Shutdown(context.Background())) // flushes the open batches
	assert.Equal(t, int64(30), outcomes(t, tel)["shipped"])
	_, keys := storeContents(t, srv, "decisions", "axonflow/decisions")
	for _, k := range keys {
		assert.Regexp(t, `^axonflow/decisions/\d{4}/\d{2}/\d{2}/\d{2}/[A-Za-z0-9._-]+-\d{20}\.jsonl\.gz$`, k)
	}

	rcfg := reconcileConfig(srv, "decisions", dsn)
	rcfg.Layout = LayoutBatched
	rcfg.Batch = cfg.Batch
	rcfg.Batch.FlushInterval = 100 * time.Millisecond
	rcfg.Reconcile.Settle = 2 * time.Second
	rcfg.PutTimeout = time.Second
	tel = newTel(t)
	_, e := startPipelineExporter(t, rcfg, tel)
	assertComplete(t, srv, "decisions", dsn)
	eventually(t, 30*time.Second, "a complete pass", func() bool { return completePasses(t, tel) > 0 })
	assert.Equal(t, int64(90), sumInt(t, tel, "otelcol_s3decision_reconciled"))
	_, keysBefore := storeContents(t, srv, "decisions", "axonflow/decisions")
	require.NoError(t, e.shutdown(context.Background()))

	tel = newTel(t)
	startPipelineExporter(t, rcfg, tel)
	eventually(t, 30*time.Second, "a complete pass", func() bool { return completePasses(t, tel) > 0 })
	assert.Zero(t, sumInt(t, tel, "otelcol_s3decision_reconciled"))
	_, keysAfter := storeContents(t, srv, "decisions", "axonflow/decisions")
	assert.Equal(t, keysBefore, keysAfter)
	assertComplete(t, srv, "decisions", dsn)
}
