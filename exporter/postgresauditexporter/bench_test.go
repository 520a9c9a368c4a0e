package postgresauditexporter

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/pgtest"
)

// BenchmarkExporterVsRawCopy writes the same 204,875 canonical records (the governed Claude Code fixture, renumbered)
// twice, into two fresh databases with the same schema, in batches of 8,195 (about the default batch): once through
// the exporter (read the audit.* attributes, COPY into staging, INSERT ... ON CONFLICT DO NOTHING) and once by a raw
// COPY of the already-built rows straight into audit_logs. It reports rows/s for both and their ratio (target >= 0.5).
// Run: go test -run x -bench ExporterVsRawCopy -benchtime 1x ./exporter/postgresauditexporter/
func BenchmarkExporterVsRawCopy(b *testing.B) {
	const copiesPerBatch, batchCount = 745, 25 // x 11 records
	base := governed(b, "tenant-a")
	logs := make([]plog.Logs, batchCount)
	for i := range logs {
		logs[i] = plog.NewLogs()
		for range copiesPerBatch {
			renumber(base, time.Time{}).ResourceLogs().MoveAndAppendTo(logs[i].ResourceLogs())
		}
	}
	total := batchCount * copiesPerBatch * 11
	ctx := context.Background()

	for b.Loop() {
		// Raw COPY baseline: rows built beforehand, one COPY (its own transaction) per batch.
		rawDSN := pgtest.NewDatabase(b)
		raw := startExporter(b, testConfig(b, rawDSN), nil)
		rowBatches := make([][]row, batchCount)
		for i, ld := range logs {
			rows, _, bad := raw.convertRows(ld)
			require.Empty(b, bad)
			rowBatches[i] = rows
		}
		copySQL := "COPY audit_logs (" + audit.ColumnList("") + ") FROM STDIN (FORMAT binary)"
		start := time.Now()
		for _, rows := range rowBatches {
			conn, err := raw.pool.Acquire(ctx)
			require.NoError(b, err)
			tag, err := conn.Conn().PgConn().CopyFrom(ctx, newCopyReader(rows), copySQL)
			conn.Release()
			require.NoError(b, err)
			require.EqualValues(b, len(rows), tag.RowsAffected())
		}
		rawRate := float64(total) / time.Since(start).Seconds()

		// The exporter, from governed log records to committed rows.
		expDSN := pgtest.NewDatabase(b)
		e := startExporter(b, testConfig(b, expDSN), nil)
		start = time.Now()
		for _, ld := range logs {
			require.NoError(b, e.pushLogs(ctx, ld))
		}
		expRate := float64(total) / time.Since(start).Seconds()
		require.EqualValues(b, total, pgtest.QueryInt(b, expDSN, "SELECT count(*) FROM audit_logs"))

		b.ReportMetric(expRate, "exporter_rows/s")
		b.ReportMetric(rawRate, "raw_copy_rows/s")
		b.ReportMetric(expRate/rawRate, "ratio")
		b.Logf("%d records: exporter %.0f rows/s, raw COPY %.0f rows/s, ratio %.2f", total, expRate, rawRate, expRate/rawRate)
	}
}
