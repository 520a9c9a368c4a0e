package e2e

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The bounded smoke form of the load suite: `govctl load` over OTLP/HTTP and OTLP/gRPC against the shipped
// config/local.yaml at full speed (the sustained throughput), then open-loop at 50 % and 90 % of it for the
// acknowledgement latency; every acknowledged event is stored exactly once, per simulated developer, and the trail
// verifies. `make bench-history` scales it with GOVCOL_LOAD_EVENTS and GOVCOL_BENCH_FULL; the measured end-to-end
// figures are BenchmarkEndToEnd's.
func TestLoadSmoke(t *testing.T) {
	c := StartLocalCollector(t)
	lic := c.Keys.License(t, "org-load", "tenant-load", "client-load", "")
	httpEvents := int64(2200)
	if v, err := strconv.ParseInt(os.Getenv("GOVCOL_LOAD_EVENTS"), 10, 64); err == nil && v >= 1100 {
		httpEvents = v / 110 * 110
	}
	grpcEvents := httpEvents / 220 * 110
	closed := func(protocol string, events int64) LoadResult {
		r := Load(t, c, lic, protocol, "--developers", "5", "--concurrency", "4", "--batch", "10", "--duration", "5m",
			"--max-events", strconv.FormatInt(events, 10))()
		require.Empty(t, r.FirstError)
		assert.Equal(t, r.EventsSent, r.EventsAcked)
		assert.Zero(t, r.EventsFailed)
		t.Logf("%s sustained: %s", protocol, r)
		return r
	}
	httpRes := closed("http", httpEvents)
	grpcRes := closed("grpc", grpcEvents)
	acked := httpRes.EventsAcked + grpcRes.EventsAcked
	require.Equal(t, httpEvents+grpcEvents, acked)

	// Acknowledgement latency at a fixed offered load below the sustained throughput.
	d := scaled(4*time.Second, 20*time.Second)
	for _, share := range []float64{0.5, 0.9} {
		rate := share * httpRes.EventsPerSec
		r := Load(t, c, lic, "http", "--rate", strconv.FormatFloat(rate, 'f', 0, 64), "--developers", "5", "--batch", "10",
			"--duration", secs(d), "--max-events", "10000000")()
		require.Empty(t, r.FirstError)
		assert.Equal(t, r.EventsSent, r.EventsAcked)
		acked += r.EventsAcked
		t.Logf("http at %.0f%% of sustained (%.0f events/s offered): %s", share*100, rate, r)
	}
	t.Logf("collector peak RSS %.0f MiB", c.PeakRSSMiB(t))

	var stored, distinct int64
	require.Eventually(t, func() bool {
		stored, distinct = Stored(t, c.PostgresDSN, "tenant-load")
		return stored == acked
	}, time.Minute, 250*time.Millisecond, "stored %d of %d", stored, acked)
	assert.Equal(t, acked, distinct, "no duplicates")
	db, err := pgx.Connect(context.Background(), c.PostgresDSN)
	require.NoError(t, err)
	defer db.Close(context.Background())
	var devs int64
	require.NoError(t, db.QueryRow(context.Background(), "SELECT count(DISTINCT user_email) FROM audit_logs WHERE tenant_id = 'tenant-load'").Scan(&devs))
	assert.EqualValues(t, 5, devs, "one user_email per simulated developer")

	assert.Contains(t, c.VerifyTrail(t), strconv.FormatInt(acked, 10)+" records checked")
}
