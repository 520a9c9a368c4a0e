package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The bounded smoke form of the load suite: `govctl load` over OTLP/HTTP and OTLP/gRPC against the shipped
// config/local.yaml; every acknowledged event is stored exactly once, per simulated developer, and the trail verifies.
func TestLoadSmoke(t *testing.T) {
	c := StartLocalCollector(t)
	lic := c.Keys.License(t, "org-load", "tenant-load", "client-load", "")
	govctl := filepath.Join(filepath.Dir(GovcolBinary(t)), "govctl")
	type result struct {
		EventsSent, EventsAcked, EventsFailed int64
		EventsPerSec                          float64 `json:"events_per_second"`
		P99                                   float64 `json:"ack_latency_p99_ms"`
	}
	run := func(protocol, endpoint string, maxEvents string) result {
		out, err := exec.Command(govctl, "load", "--protocol", protocol, "--endpoint", endpoint, "--license", lic,
			"--developers", "5", "--concurrency", "4", "--batch", "10", "--duration", "5m", "--max-events", maxEvents, "--json").Output()
		require.NoError(t, err, "%s", out)
		var r struct {
			EventsSent   int64   `json:"events_sent"`
			EventsAcked  int64   `json:"events_acked"`
			EventsFailed int64   `json:"events_failed"`
			EventsPerSec float64 `json:"events_per_second"`
			P99          float64 `json:"ack_latency_p99_ms"`
			FirstError   string  `json:"first_error"`
		}
		require.NoError(t, json.Unmarshal(out, &r), "%s", out)
		require.Empty(t, r.FirstError)
		t.Logf("%s: %d sent, %d acked, %.0f events/s, p99 %.1f ms", protocol, r.EventsSent, r.EventsAcked, r.EventsPerSec, r.P99)
		return result{r.EventsSent, r.EventsAcked, r.EventsFailed, r.EventsPerSec, r.P99}
	}
	// `make bench` raises the counts with GOVCOL_LOAD_EVENTS (HTTP; gRPC gets half); the CI smoke form is small.
	httpEvents := int64(2200)
	if v, err := strconv.ParseInt(os.Getenv("GOVCOL_LOAD_EVENTS"), 10, 64); err == nil && v >= 1100 {
		httpEvents = v / 110 * 110
	}
	grpcEvents := httpEvents / 220 * 110
	httpRes := run("http", c.HTTPEndpoint, strconv.FormatInt(httpEvents, 10))
	grpcRes := run("grpc", c.GRPCEndpoint, strconv.FormatInt(grpcEvents, 10))
	for _, r := range []result{httpRes, grpcRes} {
		assert.Equal(t, r.EventsSent, r.EventsAcked)
		assert.Zero(t, r.EventsFailed)
	}
	acked := httpRes.EventsAcked + grpcRes.EventsAcked
	require.Equal(t, httpEvents+grpcEvents, acked)

	db, err := pgx.Connect(context.Background(), c.PostgresDSN)
	require.NoError(t, err)
	defer db.Close(context.Background())
	var stored, distinct, devs int64
	require.Eventually(t, func() bool {
		return db.QueryRow(context.Background(), "SELECT count(*) FROM audit_logs WHERE tenant_id = 'tenant-load'").Scan(&stored) == nil && stored == acked
	}, 60*time.Second, 250*time.Millisecond, "stored %d of %d", stored, acked)
	require.NoError(t, db.QueryRow(context.Background(), "SELECT count(DISTINCT id), count(DISTINCT user_email) FROM audit_logs").Scan(&distinct, &devs))
	assert.Equal(t, acked, distinct, "no duplicates")
	assert.EqualValues(t, 5, devs, "one user_email per simulated developer")

	assert.Contains(t, c.VerifyTrail(t), strconv.FormatInt(acked, 10)+" records checked")
}
