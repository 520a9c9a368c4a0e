package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/govcol/govcol/exporter/postgresauditexporter"
	"github.com/govcol/govcol/internal/audittest"
	"github.com/govcol/govcol/internal/pgtest"
	"github.com/govcol/govcol/processor/governanceprocessor/governancetest"
)

// backfill ships what Postgres holds and the directory lacks, once: a second run finds everything present.
func TestDecisionsBackfill(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	base := governancetest.Governed(t, "tenant-a")
	ld := plog.NewLogs()
	now := time.Now().UTC()
	for i := range 20 {
		audittest.Renumber(base, now.Add(-30*time.Minute+time.Duration(i)*time.Minute)).ResourceLogs().MoveAndAppendTo(ld.ResourceLogs())
	}
	pf := postgresauditexporter.NewFactory()
	pcfg := pf.CreateDefaultConfig().(*postgresauditexporter.Config)
	pcfg.DSN = configopaque.String(dsn)
	pcfg.Fallback.Path = filepath.Join(t.TempDir(), "fallback.jsonl")
	pg, err := pf.CreateLogs(context.Background(), exportertest.NewNopSettings(pf.Type()), pcfg)
	require.NoError(t, err)
	require.NoError(t, pg.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, pg.ConsumeLogs(context.Background(), ld))
	require.Eventually(t, func() bool { return pgtest.QueryInt(t, dsn, "SELECT count(*) FROM audit_logs") == 220 }, time.Minute, 50*time.Millisecond)
	require.NoError(t, pg.Shutdown(context.Background()))
	selected := pgtest.QueryInt(t, dsn, `SELECT count(*) FROM audit_logs WHERE metadata->>'event_name' IN ('tool_decision', 'code_edit_tool_decision') OR policy_decision <> 'allowed'`)
	require.Equal(t, int64(60), selected)
	time.Sleep(1100 * time.Millisecond) // --settle 1s

	dir := t.TempDir()
	// Only the first 10 minutes: sessions 0..9.
	out, err := run(t, "", "decisions", "backfill", "--dsn", dsn, "--local-dir", dir, "--since", "31m", "--until", "21m", "--settle", "1s")
	require.NoError(t, err)
	assert.Contains(t, out, "110 records, 30 selected, 0 already in the store, 30 missing, 30 shipped")
	out, err = run(t, "", "decisions", "backfill", "--dsn", dsn, "--local-dir", dir, "--since", now.Add(-2*time.Hour).Format(time.RFC3339), "--settle", "1s")
	require.NoError(t, err)
	assert.Contains(t, out, "220 records, 60 selected, 30 already in the store, 30 missing, 30 shipped")
	var files int
	require.NoError(t, filepath.Walk(filepath.Join(dir, "axonflow", "decisions"), func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && strings.HasSuffix(p, ".json") {
			files++
		}
		return err
	}))
	assert.Equal(t, 60, files)
	out, err = run(t, "", "decisions", "backfill", "--dsn", dsn, "--local-dir", dir, "--since", "2h", "--settle", "1s", "--json")
	require.NoError(t, err)
	assert.Contains(t, out, `"shipped": 0`)
	assert.Contains(t, out, `"present": 60`)

	_, err = run(t, "", "decisions", "backfill", "--dsn", dsn, "--local-dir", dir)
	require.ErrorContains(t, err, "--since is required")
}
