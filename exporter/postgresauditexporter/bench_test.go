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
// through the exporter and by a raw COPY, each into a fresh database with the same schema, in batches of 8,195
// (about the default batch), in two rounds with the sides in turn first (raw, exporter, exporter, raw), so neither
// gains from going first or last. The exporter: read the audit.* attributes, check the caps, COPY into audit_logs
// (into staging and INSERT ... ON CONFLICT DO NOTHING when a row is stored already, never here), commit. Raw COPY:
// the rows already built, the same binary COPY stream straight into audit_logs, one COPY per batch. It reports rows/s
// of both over the two rounds and their ratio (target >= 0.5).
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
	copySQL := "COPY audit_logs (" + audit.ColumnList("") + ") FROM STDIN (FORMAT binary)"

	raw := func() time.Duration {
		dsn := pgtest.NewDatabase(b)
		e := startExporter(b, testConfig(b, dsn), nil)
		rowBatches := make([][]row, batchCount)
		for i, ld := range logs {
			rows, _, bad := e.convertRows(ld)
			require.Empty(b, bad)
			rowBatches[i] = rows
		}
		start := time.Now()
		for _, rows := range rowBatches {
			conn, err := e.pool.Acquire(ctx)
			require.NoError(b, err)
			tag, err := conn.Conn().PgConn().CopyFrom(ctx, newCopyReader(rows), copySQL)
			conn.Release()
			require.NoError(b, err)
			require.EqualValues(b, len(rows), tag.RowsAffected())
		}
		return time.Since(start)
	}
	exporter := func() time.Duration {
		dsn := pgtest.NewDatabase(b)
		e := startExporter(b, testConfig(b, dsn), nil)
		start := time.Now()
		for _, ld := range logs {
			require.NoError(b, e.pushLogs(ctx, ld))
		}
		d := time.Since(start)
		require.EqualValues(b, total, pgtest.QueryInt(b, dsn, "SELECT count(*) FROM audit_logs"))
		return d
	}

	for b.Loop() {
		var rawTime, expTime time.Duration
		rawTime += raw()
		expTime += exporter()
		expTime += exporter()
		rawTime += raw()
		rawRate := float64(2*total) / rawTime.Seconds()
		expRate := float64(2*total) / expTime.Seconds()
		b.ReportMetric(expRate, "exporter_rows/s")
		b.ReportMetric(rawRate, "raw_copy_rows/s")
		b.ReportMetric(expRate/rawRate, "ratio")
		b.Logf("%d records x 2 rounds (raw, exporter, exporter, raw): exporter %.0f rows/s, raw COPY %.0f rows/s, ratio %.2f",
			total, expRate, rawRate, expRate/rawRate)
	}
}
