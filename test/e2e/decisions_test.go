package e2e

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govcol/govcol/internal/pgtest"
	"github.com/govcol/govcol/internal/s3test"
)

// The decision store's acceptance tests: the built collector, `govctl load`, a real versitygw and Postgres. The
// reconciler reads Postgres as a SELECT-only role. Intervals are short so that each test takes well under a minute.

// selectedDecisionsSQL is the default selection written in SQL: the independent expectation.
const selectedDecisionsSQL = `SELECT decision_id::text FROM audit_logs WHERE tenant_id = 'tenant-s3' AND
	(metadata->>'event_name' IN ('tool_decision', 'code_edit_tool_decision') OR policy_decision <> 'allowed')`

type decisionRig struct {
	c         *Collector
	srv       *s3test.Server
	readerDSN string
	lic       string
	total     int64 // events acknowledged so far
}

// readerRole creates a LOGIN role that may only SELECT audit_logs (granted once the collector created the table)
// and returns its DSN and the grant.
func readerRole(t testing.TB, dsn string) (string, func()) {
	name := fmt.Sprintf("s3reader_%d", time.Now().UnixNano()%1e9)
	pgtest.Exec(t, dsn, "CREATE ROLE "+name+" LOGIN PASSWORD 'reader-pw'")
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), dsn)
		if err == nil {
			_, _ = conn.Exec(context.Background(), "DROP OWNED BY "+name)
			_, _ = conn.Exec(context.Background(), "DROP ROLE "+name)
			_ = conn.Close(context.Background())
		}
	})
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	u.User = url.UserPassword(name, "reader-pw")
	return u.String(), func() { pgtest.Exec(t, dsn, "GRANT SELECT ON audit_logs TO "+name) }
}

func startDecisionRig(t testing.TB, layout string) *decisionRig {
	t.Helper()
	srv := s3test.Start(t)
	srv.Env(t)
	srv.CreateBucket(t, "decisions", false)
	pgDSN := pgtest.NewDatabase(t)
	readerDSN, grant := readerRole(t, pgDSN)
	c := startDecisionCollector(t, GovcolBinary(t), pgDSN, fmt.Sprintf(`
  s3decision:
    bucket: decisions
    endpoint: %s
    s3_force_path_style: true
    layout: %s
    put_timeout: 1s
    breaker: {threshold: 3, cooldown: 2s}
    batch: {flush_interval: 1s}
    reconcile:
      postgres_dsn: %q
      interval: 500ms
      slice: 10s
      settle: 3s
      recheck: 2h
      initial_lookback: 2h
      max_slices_per_pass: 1000`, srv.Endpoint, layout, readerDSN))
	grant() // the collector created audit_logs at start
	return &decisionRig{c: c, srv: srv, readerDSN: readerDSN, lic: c.Keys.License(t, "org-s3", "tenant-s3", "client-s3", "")}
}

// startDecisionCollector runs bin with OTLP in, governance, postgresaudit (pgDSN) and the exporter YAML given in
// decisionExporter (an s3decision block indented two spaces; empty: Postgres only).
func startDecisionCollector(t testing.TB, bin, pgDSN, decisionExporter string) *Collector {
	t.Helper()
	dir := t.TempDir()
	keys := NewKeys(t, dir)
	auditKey, auditPub := NewAuditKey(t, dir)
	grpcPort, httpPort, metricsPort, healthPort := FreePort(t), FreePort(t), FreePort(t), FreePort(t)
	exporters := "postgresaudit"
	if decisionExporter != "" {
		exporters += ", s3decision"
	}
	cfg := AuthedOTLPConfig(keys.PEMPath, healthPort, grpcPort, httpPort, "") + fmt.Sprintf(`
processors:
  governance:
    integrity: {signing_key_file: %q}
exporters:
  postgresaudit:
    dsn: %q
    sending_queue:
      batch: {flush_timeout: 100ms}
    fallback: {path: %q}%s
service:
  extensions: [licenseauth, health_check]
%s  pipelines:
    logs: {receivers: [otlp], processors: [governance], exporters: [%s]}
`, auditKey, pgDSN, filepath.Join(dir, "pg-fallback.jsonl"), decisionExporter, TelemetryConfig(metricsPort), exporters)
	cfgPath := filepath.Join(dir, "govcol.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(cfg), 0o600))
	c := &Collector{
		GRPCEndpoint: fmt.Sprintf("127.0.0.1:%d", grpcPort),
		HTTPEndpoint: fmt.Sprintf("http://127.0.0.1:%d", httpPort),
		MetricsURL:   fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort),
		PostgresDSN:  pgDSN, AuditPubKey: auditPub, Keys: keys, Dir: dir, stderr: &lockedBuffer{},
	}
	launch(t, c, bin, []string{"--config", cfgPath}, nil, healthPort)
	return c
}

// load sends events (multiples of 110) and waits until Postgres holds every acknowledged one.
func (r *decisionRig) load(t testing.TB, events int) int64 {
	t.Helper()
	res := Load(t, r.c, r.lic, "http", "--developers", "5", "--concurrency", "4", "--batch", "10", "--duration", "60s",
		"--max-events", fmt.Sprint(events))()
	require.Empty(t, res.FirstError)
	require.Equal(t, int64(events), res.EventsAcked)
	r.total += res.EventsAcked
	require.Eventually(t, func() bool { n, _ := Stored(t, r.c.PostgresDSN, "tenant-s3"); return n >= r.total },
		time.Minute, 200*time.Millisecond)
	return res.EventsAcked
}

func (r *decisionRig) selected(t testing.TB) map[string]bool {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), r.c.PostgresDSN)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	rows, err := conn.Query(context.Background(), selectedDecisionsSQL)
	require.NoError(t, err)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	out := map[string]bool{}
	for _, id := range ids {
		out[id] = true
	}
	return out
}

// stored lists the bucket: decision id → how many times it is stored (per-decision keys, lines of batched objects).
func (r *decisionRig) stored(t testing.TB) map[string]int {
	t.Helper()
	ctx := context.Background()
	client := r.srv.Client()
	out := map[string]int{}
	p := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: aws.String("decisions"), Prefix: aws.String("axonflow/decisions/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		require.NoError(t, err)
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			switch {
			case strings.Contains(key, "/checkpoints/") || strings.Contains(key, "/_reconciler/"):
			case strings.HasSuffix(key, ".jsonl.gz"):
				obj, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("decisions"), Key: o.Key})
				require.NoError(t, err)
				b, err := io.ReadAll(obj.Body)
				obj.Body.Close()
				require.NoError(t, err)
				zr, err := gzip.NewReader(bytes.NewReader(b))
				require.NoError(t, err)
				sc := bufio.NewScanner(zr)
				sc.Buffer(nil, 1<<20)
				for sc.Scan() {
					var d struct {
						DecisionID string `json:"decision_id"`
					}
					require.NoError(t, json.Unmarshal(sc.Bytes(), &d))
					out[d.DecisionID]++
				}
				require.NoError(t, sc.Err())
			case strings.HasSuffix(key, ".json"):
				out[strings.TrimSuffix(key[strings.LastIndexByte(key, '/')+1:], ".json")]++
			}
		}
	}
	return out
}

// awaitComplete waits until the bucket holds exactly the selected decisions of Postgres, each once, and returns
// how long that took.
func (r *decisionRig) awaitComplete(t testing.TB, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	want := r.selected(t)
	require.NotEmpty(t, want)
	var got map[string]int
	for {
		got = r.stored(t)
		if len(got) == len(want) {
			break
		}
		if time.Since(start) > within {
			t.Fatalf("after %s the store holds %d of %d selected decisions", within, len(got), len(want))
		}
		time.Sleep(250 * time.Millisecond)
	}
	took := time.Since(start)
	for id := range want {
		assert.Equal(t, 1, got[id], "decision %s stored exactly once", id)
	}
	for id := range got {
		assert.True(t, want[id], "the store holds only selected decisions (%s)", id)
	}
	return took
}

// A run at full speed with the store up (the live path drops what its buffer cannot hold; the reconciler fills in),
// then the store down for a whole load run: the live path drops every decision (breaker open), Postgres has them
// all; once the store is back, the reconciler (a SELECT-only role) ships them, and the keys listed equal the
// selected decisions in Postgres, each once.
func TestDecisionsCompleteAfterStoreOutage(t *testing.T) {
	r := startDecisionRig(t, "per_decision")
	// Store up at full speed first: what the live path drops (buffer full) the reconciler ships.
	r.load(t, 2200)
	took := r.awaitComplete(t, 2*time.Minute)
	t.Logf("store up: %d selected decisions complete %.1fs after the run (live %.0f, dropped with the buffer full %.0f, reconciled %.0f)",
		len(r.selected(t)), took.Seconds(), r.c.Metric(t, "otelcol_s3decision_objects", `outcome="shipped"`),
		r.c.Metric(t, "otelcol_s3decision_objects", `outcome="dropped_buffer_full"`), r.c.Metric(t, "otelcol_s3decision_reconciled"))
	reconciledUp := r.c.Metric(t, "otelcol_s3decision_reconciled")

	r.srv.Stop()
	acked := r.load(t, 3300)
	assert.Positive(t, r.c.Metric(t, "otelcol_s3decision_objects", `outcome="dropped_breaker_open"`), "the breaker opened")
	assert.Positive(t, r.c.Metric(t, "otelcol_s3decision_reconcile_passes", `result="failed"`), "reconciler passes fail while the store is down")

	require.NoError(t, r.srv.Resume())
	took = r.awaitComplete(t, 3*time.Minute)
	reconciled := r.c.Metric(t, "otelcol_s3decision_reconciled") - reconciledUp
	t.Logf("store down for %d events: %d selected decisions complete %.1fs after the store returned (reconciled %.0f)",
		acked, len(r.selected(t)), took.Seconds(), reconciled)
	assert.Equal(t, float64(900), reconciled, "the 900 decisions of the run with the store down (3 of 11 events)")
	require.Eventually(t, func() bool { return r.c.Metric(t, "otelcol_s3decision_reconcile_backlog") == 0 }, 10*time.Second, 200*time.Millisecond)
	assert.Less(t, r.c.Metric(t, "otelcol_s3decision_reconcile_lag"), 60.0)
}

// Batched layout, restarted with a backlog: part of the load ships live; then the store goes down, more load, and
// the collector is killed (nothing flushed); the store returns and the collector restarts: the hourly objects of
// the live path and the reconciler's objects together hold every selected decision exactly once.
func TestDecisionsBatchedRestartWithBacklog(t *testing.T) {
	r := startDecisionRig(t, "batched")
	r.load(t, 1100)
	require.Eventually(t, func() bool { return r.c.Metric(t, "otelcol_s3decision_objects", `outcome="shipped"`) > 0 },
		30*time.Second, 200*time.Millisecond, "the live path ships batches")
	r.srv.Stop()
	r.load(t, 2200)
	r.c.Kill()
	require.NoError(t, r.srv.Resume())
	r.c.Restart(t)
	took := r.awaitComplete(t, 3*time.Minute)
	t.Logf("batched: %d selected decisions complete %.1fs after the restart (reconciled %.0f)", len(r.selected(t)), took.Seconds(),
		r.c.Metric(t, "otelcol_s3decision_reconciled"))
	assert.Positive(t, r.c.Metric(t, "otelcol_s3decision_reconciled"))
}
