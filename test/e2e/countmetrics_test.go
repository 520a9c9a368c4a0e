package e2e

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The decision counters of config/local.yaml (count/governance) are running totals in Prometheus: after `govctl
// load` sends a known number of records over concurrent requests, govcol_decisions_total summed over its series
// equals the records stored, and per developer govcol_developer_events_total equals the stored rows. The count connector emits one delta point per batch stamped with the records' own times; without
// the delta_to_cumulative stage the Prometheus exporter showed each series' last batch only (upstream
// opentelemetry-collector-contrib issue 30203).
func TestDecisionCountersAreRunningTotals(t *testing.T) {
	c := StartLocalCollector(t)
	prom := startPrometheus(t, c.ExporterMetricsURL)
	lic := c.Keys.License(t, "org-count", "tenant-count", "client-count", "")
	const events = 550
	r := Load(t, c, lic, "http", "--developers", "5", "--concurrency", "4", "--batch", "10", "--duration", "5m",
		"--max-events", strconv.Itoa(events))()
	require.Empty(t, r.FirstError)
	require.EqualValues(t, events, r.EventsAcked)

	var stored int64
	require.Eventually(t, func() bool {
		stored, _ = Stored(t, c.PostgresDSN, "tenant-count")
		return stored == events
	}, time.Minute, 250*time.Millisecond, "stored %d of %d", stored, events)

	db, err := pgx.Connect(context.Background(), c.PostgresDSN)
	require.NoError(t, err)
	defer db.Close(context.Background())
	perDev := map[string]float64{}
	rows, err := db.Query(context.Background(),
		"SELECT user_email, count(*) FROM audit_logs WHERE tenant_id = 'tenant-count' GROUP BY user_email")
	require.NoError(t, err)
	for rows.Next() {
		var email string
		var n int64
		require.NoError(t, rows.Scan(&email, &n))
		perDev[email] = float64(n)
	}
	require.NoError(t, rows.Err())
	require.Len(t, perDev, 5)

	scalar := func(expr string) float64 {
		s := promQuery(t, prom, expr)
		if len(s) != 1 {
			return -1
		}
		v, err := strconv.ParseFloat(s[0].Value[1].(string), 64)
		require.NoError(t, err)
		return v
	}
	// Poll until the figures settle (the exporter is scraped every second), then assert them.
	var decisions float64
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(time.Second) {
		if decisions = scalar(`sum(govcol_decisions_total{audit_tenant_id="tenant-count"})`); decisions == float64(stored) {
			break
		}
	}
	assert.Equal(t, float64(stored), decisions, "govcol_decisions_total summed over series")
	t.Logf("stored %d; Prometheus govcol_decisions_total %v", stored, decisions)

	got := map[string]float64{}
	for _, s := range promQuery(t, prom, `sum by (audit_user_email) (govcol_developer_events_total{audit_tenant_id="tenant-count"})`) {
		v, err := strconv.ParseFloat(s.Value[1].(string), 64)
		require.NoError(t, err)
		got[s.Metric["audit_user_email"]] = v
	}
	assert.Equal(t, perDev, got, "govcol_developer_events_total per developer")
}
