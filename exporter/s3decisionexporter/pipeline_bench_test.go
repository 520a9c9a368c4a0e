package s3decisionexporter

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/govcol/govcol/exporter/postgresauditexporter"
	"github.com/govcol/govcol/internal/audittest"
	"github.com/govcol/govcol/internal/pgtest"
	"github.com/govcol/govcol/internal/s3test"
	"github.com/govcol/govcol/processor/governanceprocessor/governancetest"
)

// BenchmarkPostgresWhileS3Down measures the Postgres exporter's end-to-end throughput (consume → rows committed) in
// the logs pipeline, first alone (the baseline), then fanned out with the s3decision exporter while the S3 server is
// stopped, in the same run, and reports the ratio (target >= 0.9).
// Run: go test -run x -bench PostgresWhileS3Down -benchtime 1x ./exporter/s3decisionexporter/
func BenchmarkPostgresWhileS3Down(b *testing.B) {
	const batches, copies = 40, 100 // 44,000 records per run
	base := governancetest.Governed(b, "tenant-a")
	srv := s3test.Start(b)
	srv.Env(b)
	srv.CreateBucket(b, "decisions", false)
	srv.Stop() // S3 is down for the whole measured run

	run := func(withS3 bool) float64 {
		dsn := pgtest.NewDatabase(b)
		pf := postgresauditexporter.NewFactory()
		pcfg := pf.CreateDefaultConfig().(*postgresauditexporter.Config)
		pcfg.DSN = configopaque.String(dsn)
		pcfg.Fallback.Path = filepath.Join(b.TempDir(), "fallback.jsonl")
		pg, err := pf.CreateLogs(context.Background(), exportertest.NewNopSettings(pf.Type()), pcfg)
		require.NoError(b, err)
		require.NoError(b, pg.Start(context.Background(), componenttest.NewNopHost()))
		defer pg.Shutdown(context.Background())
		consumers := []consumer.Logs{pg}
		if withS3 {
			cfg := bucketConfig(srv, "decisions")
			s3e, err := NewFactory().CreateLogs(context.Background(), exportertest.NewNopSettings(NewFactory().Type()), cfg)
			require.NoError(b, err)
			require.NoError(b, s3e.Start(context.Background(), componenttest.NewNopHost()))
			defer s3e.Shutdown(context.Background())
			consumers = append(consumers, s3e)
		}
		data := make([]plog.Logs, batches)
		for i := range data {
			data[i] = audittest.Batch(base, copies)
		}
		want := int64(batches * copies * audittest.FixtureRecords)
		start := time.Now()
		for _, ld := range data {
			for _, c := range consumers { // the pipeline's fan-out calls exporters one after the other
				require.NoError(b, c.ConsumeLogs(context.Background(), ld))
			}
		}
		for pgtest.QueryInt(b, dsn, "SELECT count(*) FROM audit_logs") < want {
			time.Sleep(20 * time.Millisecond)
		}
		return float64(want) / time.Since(start).Seconds()
	}
	for b.Loop() {
		baseline := run(false)
		down := run(true)
		b.ReportMetric(baseline, "baseline_rows/s")
		b.ReportMetric(down, "s3_down_rows/s")
		b.ReportMetric(down/baseline, "ratio")
		b.Logf("Postgres alone %.0f rows/s, with S3 down %.0f rows/s, ratio %.2f", baseline, down, down/baseline)
	}
}
