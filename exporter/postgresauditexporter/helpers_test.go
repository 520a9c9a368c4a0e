package postgresauditexporter

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/govcol/govcol/internal/audittest"
	"github.com/govcol/govcol/internal/pgtest"
	"github.com/govcol/govcol/internal/store"
	"github.com/govcol/govcol/processor/governanceprocessor/governancetest"
)

// runWithPostgres is the package's TestMain body (see metadata.yaml, tests.goleak.setup).
// The generated lifecycle test writes its (dead-lettered) record under testdata/lifecycle; it is removed afterwards.
func runWithPostgres(m *testing.M) int {
	defer os.RemoveAll(filepath.Join("testdata", "lifecycle"))
	return pgtest.RunVerifyingLeaks(m)
}

// governed is the captured Claude Code logs governed for tenant (11 canonical records).
func governed(t testing.TB, tenant string) plog.Logs { return governancetest.Governed(t, tenant) }

// renumber gives every record of a copy of ld a new id and decision id (and, when ts is set, that event time).
func renumber(ld plog.Logs, ts time.Time) plog.Logs { return audittest.Renumber(ld, ts) }

// batches returns n renumbered copies of base.
func batches(base plog.Logs, n int) []plog.Logs {
	out := make([]plog.Logs, n)
	for i := range out {
		out[i] = renumber(base, time.Time{})
	}
	return out
}

// testConfig is the default config against dsn, with its files in a test directory.
func testConfig(t testing.TB, dsn string) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.DSN = configopaqueString(dsn)
	dir := t.TempDir()
	cfg.Fallback.Path = filepath.Join(dir, "fallback.jsonl")
	cfg.Fallback.ReplayInterval = 100 * time.Millisecond
	require.NoError(t, cfg.Validate())
	return cfg
}

// startExporter starts the component itself (no exporterhelper queue) for direct pushes.
func startExporter(t testing.TB, cfg *Config, tel *componenttest.Telemetry) *auditExporter {
	t.Helper()
	set := componenttest.NewNopTelemetrySettings()
	if tel != nil {
		set = tel.NewTelemetrySettings()
	}
	e, err := newAuditExporter(cfg, set)
	require.NoError(t, err)
	require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { _ = e.shutdown(context.Background()) })
	return e
}

func queryInt(t testing.TB, dsn, sql string, args ...any) int64 {
	return pgtest.QueryInt(t, dsn, sql, args...)
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func connect(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

func configopaqueString(s string) configopaque.String { return configopaque.String(s) }

func itoa(n int) string { return strconv.Itoa(n) }

// migrationCount is the newest schema version: the number of embedded migrations.
func migrationCount(testing.TB) int { return store.SchemaVersion() }
