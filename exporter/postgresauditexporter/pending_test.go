package postgresauditexporter

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/govcol/govcol/internal/audit"
)

// deadLetterLines counts the lines of cfg's dead-letter file.
func deadLetterLines(t *testing.T, cfg *Config) int64 {
	t.Helper()
	n, _, err := countLines(cfg.deadLetterPath())
	require.NoError(t, err)
	return n
}

// A failing batch is known by its content, not by the plog.Logs value it arrived in: a retry in a copy keeps the
// retry budget of the first attempt (and is spilled once it is spent), and its malformed records are not
// dead-lettered twice.
func TestRetryOfACopyKeepsItsBudget(t *testing.T) {
	cfg := testConfig(t, "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=1")
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	e, err := newAuditExporter(cfg, componenttest.NewNopTelemetrySettings())
	require.NoError(t, err)
	e.now = func() time.Time { return time.Unix(0, clock.Load()) }
	require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { _ = e.shutdown(context.Background()) })

	ld := governed(t, "tenant-a")
	ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().AppendEmpty().Body().SetStr("not governed")
	ctx := context.Background()
	require.Error(t, e.pushLogs(ctx, ld), "Postgres is unreachable: the first failure is retried")
	require.Equal(t, int64(1), deadLetterLines(t, cfg))

	retry := plog.NewLogs()
	ld.CopyTo(retry)
	clock.Add(int64(e.spillAfter / 2))
	require.Error(t, e.pushLogs(ctx, retry), "within the budget of the first attempt")
	clock.Add(int64(e.spillAfter))
	require.NoError(t, e.pushLogs(ctx, retry), "the budget of the first attempt is spent: spilled")
	assert.EqualValues(t, 11, e.fb.depth())
	assert.Equal(t, int64(1), deadLetterLines(t, cfg), "the malformed record is dead-lettered once")
	assert.False(t, e.anyPending())
}

func TestBatchKeyIsTheContent(t *testing.T) {
	e, err := newAuditExporter(testConfig(t, "postgres://x@127.0.0.1:1/x"), componenttest.NewNopTelemetrySettings())
	require.NoError(t, err)
	ld := governed(t, "tenant-a")
	recs, cps, _ := e.convert(ld)
	copied := plog.NewLogs()
	ld.CopyTo(copied)
	recs2, cps2, _ := e.convert(copied)
	assert.Equal(t, keyOf(recs, cps), keyOf(recs2, cps2))
	other, ocps, _ := e.convert(renumber(ld, time.Time{}))
	assert.NotEqual(t, keyOf(recs, cps), keyOf(other, ocps))
	assert.NotEqual(t, keyOf(recs, cps), keyOf(recs[1:], cps))
	resequenced := append([]audit.Record(nil), recs...)
	resequenced[0].ChainSeq++
	assert.NotEqual(t, keyOf(recs, cps), keyOf(resequenced, cps), "a re-delivery chained again is another batch")
}
