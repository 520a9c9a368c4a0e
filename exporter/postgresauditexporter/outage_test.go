package postgresauditexporter

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/govcol/govcol/exporter/postgresauditexporter/internal/metadatatest"
	"github.com/govcol/govcol/internal/pgcluster"
	"github.com/govcol/govcol/internal/pgtest"
)

// pipelineExporter builds the exporter as the collector does (exporterhelper queue, batching, timeout, retries).
func pipelineExporter(t *testing.T, cfg *Config, tel *componenttest.Telemetry) (exporter.Logs, *auditExporter) {
	t.Helper()
	exp, e, err := newLogsExporter(context.Background(), metadatatest.NewSettings(tel), cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	return exp, e
}

// shortRetry gives a retry budget of 2 s: a batch spills after about 0.7 s of failures.
func shortRetry(cfg *Config) {
	cfg.BackOffConfig.InitialInterval = 50 * time.Millisecond
	cfg.BackOffConfig.MaxInterval = 200 * time.Millisecond
	cfg.BackOffConfig.MaxElapsedTime = 2 * time.Second
	cfg.Timeout = time.Second
	cfg.Pool.ConnectTimeout = time.Second
}

func stopCluster(t *testing.T, c *pgcluster.Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, c.Stop(ctx, "immediate"))
}

func startCluster(t *testing.T, c *pgcluster.Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, c.Start(ctx))
}

// The server is stopped while a stream of batches (with duplicate deliveries) flows and started again: every
// record is stored exactly once, some of them by way of the fallback file.
func TestOutageMidStreamLosesNothingAndDuplicatesNothing(t *testing.T) {
	cluster := pgtest.NewCluster(t)
	dsn := cluster.DSN("")
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	cfg := testConfig(t, dsn)
	shortRetry(cfg)
	exp, e := pipelineExporter(t, cfg, tel)
	require.True(t, e.ready.Load())

	base := governed(t, "tenant-a")
	const total = 80
	sent := batches(base, total)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i, ld := range sent {
			require.NoError(t, exp.ConsumeLogs(context.Background(), ld))
			if i%10 == 0 { // a client retry: the same records delivered again
				dup := plog.NewLogs()
				ld.CopyTo(dup)
				require.NoError(t, exp.ConsumeLogs(context.Background(), dup))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	time.Sleep(time.Second)
	stopCluster(t, cluster)
	// Beyond the retry budget batches spill; keep the server down a little longer so later batches spill at once.
	eventually(t, 20*time.Second, "records spilled while the server is down", func() bool { return e.fb.depth() > 0 })
	require.True(t, e.spilling.Load())
	time.Sleep(500 * time.Millisecond)
	startCluster(t, cluster)
	wg.Wait()

	want := int64(total * 11)
	eventually(t, 60*time.Second, "every record stored", func() bool {
		return queryInt(t, dsn, "SELECT count(*) FROM audit_logs") == want && e.fb.depth() == 0
	})
	require.NoError(t, exp.Shutdown(context.Background()))
	assert.EqualValues(t, want, queryInt(t, dsn, "SELECT count(DISTINCT id) FROM audit_logs"))
	assert.False(t, e.spilling.Load())
	for _, p := range []string{cfg.Fallback.Path, replayingPath(cfg.Fallback.Path)} {
		if st, err := os.Stat(p); err == nil {
			assert.Zero(t, st.Size(), p)
		}
	}
	spilled := sumOf(t, tel, "otelcol_postgresaudit_fallback_spilled")
	replayed := sumOf(t, tel, "otelcol_postgresaudit_replayed")
	assert.Positive(t, spilled)
	assert.Equal(t, spilled, replayed, "every spilled record was replayed")
	t.Logf("stored %d records; %d went through the fallback file", want, spilled)
}

// fallbackLines counts the records in the spill file and in <path>.replaying (a replay attempt during an outage
// moves the spill file there).
func fallbackLines(t *testing.T, cfg *Config) int64 {
	t.Helper()
	var total int64
	for _, p := range []string{cfg.Fallback.Path, replayingPath(cfg.Fallback.Path)} {
		n, _, err := countLines(p)
		require.NoError(t, err)
		total += n
	}
	return total
}

func sumOf(t *testing.T, tel *componenttest.Telemetry, name string) int64 {
	t.Helper()
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

// Records spilled by a collector that stopped during an outage are replayed by the next one at start; a torn last
// line (a crash mid-append) is dead-lettered, not fatal.
func TestReplayOnStartAfterRestart(t *testing.T) {
	cluster := pgtest.NewCluster(t)
	dsn := cluster.DSN("")
	cfg := testConfig(t, dsn)
	shortRetry(cfg)
	cfg.BackOffConfig.Enabled = false // spill at the first failure
	first := startExporter(t, cfg, nil)
	stopCluster(t, cluster)
	base := governed(t, "tenant-a")
	for _, ld := range batches(base, 3) {
		require.NoError(t, first.pushLogs(context.Background(), ld))
	}
	require.EqualValues(t, 33, first.fb.depth())
	require.NoError(t, first.shutdown(context.Background()))

	// The records are in the spill file, or partly in <path>.replaying when a replay attempt ran during the outage.
	var lines int
	for _, p := range []string{cfg.Fallback.Path, replayingPath(cfg.Fallback.Path)} {
		b, err := os.ReadFile(p)
		if os.IsNotExist(err) {
			continue
		}
		require.NoError(t, err)
		st, err := os.Stat(p)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), p)
		lines += strings.Count(string(b), "\n")
		assert.NotContains(t, string(b), "4111", "the fallback file holds masked records only")
	}
	assert.Equal(t, 33, lines)
	f, err := os.OpenFile(cfg.Fallback.Path, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`{"id":"aud_torn","decision_`)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	startCluster(t, cluster)
	second := startExporter(t, cfg, nil)
	eventually(t, 30*time.Second, "replay at start", func() bool { return second.fb.depth() == 0 })
	assert.EqualValues(t, 33, queryInt(t, dsn, "SELECT count(*) FROM audit_logs"))
	dl, err := os.ReadFile(cfg.deadLetterPath())
	require.NoError(t, err)
	assert.Contains(t, string(dl), `"reason":"malformed"`)
	assert.Contains(t, string(dl), "aud_torn")
	_, err = os.Stat(replayingPath(cfg.Fallback.Path))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// A batch still failing when the collector shuts down (its retries are interrupted) is spilled, not dropped.
func TestShutdownDuringOutageSpillsPendingBatches(t *testing.T) {
	cluster := pgtest.NewCluster(t)
	cfg := testConfig(t, cluster.DSN(""))
	shortRetry(cfg)
	cfg.BackOffConfig.MaxElapsedTime = time.Hour // a long budget: without the spill at shutdown it would be lost
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	exp, e := pipelineExporter(t, cfg, tel)
	stopCluster(t, cluster)
	require.NoError(t, exp.ConsumeLogs(context.Background(), renumber(governed(t, "tenant-a"), time.Time{})))
	eventually(t, 10*time.Second, "a failed attempt", func() bool {
		e.pendingMu.Lock()
		defer e.pendingMu.Unlock()
		return len(e.pending) == 1
	})
	require.NoError(t, exp.Shutdown(context.Background()))
	assert.EqualValues(t, 11, fallbackLines(t, cfg))
}

// Beyond fallback.max_bytes spilling fails with an error that says so (and the batch stays with the retry sender).
func TestFallbackFullIsAClearError(t *testing.T) {
	port, err := pgcluster.FreePort()
	require.NoError(t, err)
	cfg := testConfig(t, "postgres://postgres@127.0.0.1:"+itoa(port)+"/postgres?sslmode=disable")
	cfg.BackOffConfig.Enabled = false
	cfg.Fallback.MaxBytes = 4096
	e := startExporter(t, cfg, nil)
	err = e.pushLogs(context.Background(), renumber(governed(t, "tenant-a"), time.Time{}))
	require.Error(t, err)
	assert.ErrorIs(t, err, errFallbackFull)
	assert.Contains(t, err.Error(), "fallback.max_bytes 4096")
	assert.NotContains(t, err.Error(), "REDACTED", "the error names sizes, not content")
	assert.Zero(t, e.fb.depth())
}
