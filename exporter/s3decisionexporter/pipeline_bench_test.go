package s3decisionexporter

import (
	"context"
	"path/filepath"
	"slices"
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
// the logs pipeline alone (the baseline) and fanned out with the s3decision exporter while the S3 server is
// stopped, in the same run, the two sides alternating over pipelineRounds runs each, and reports the ratio of their
// medians (target >= 0.9).
// Run: go test -run x -bench PostgresWhileS3Down -benchtime 1x ./exporter/s3decisionexporter/
func BenchmarkPostgresWhileS3Down(b *testing.B) {
	const batches, copies = 20, 100 // 22,000 records per run
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
		// The sides alternate (alone, S3 down; S3 down, alone; ...): whichever runs first or later is not favoured by
		// the cluster's state (a warm cache, a checkpoint under way, a busier machine).
		var alone, down []float64
		for round := range pipelineRounds {
			for _, withS3 := range []bool{round%2 == 1, round%2 == 0} {
				rate := run(withS3)
				if withS3 {
					down = append(down, rate)
				} else {
					alone = append(alone, rate)
				}
				b.Logf("round %d: %s %.0f rows/s", round+1, map[bool]string{false: "Postgres alone", true: "with S3 down"}[withS3], rate)
			}
		}
		baseline, withDown := median(alone), median(down)
		b.ReportMetric(baseline, "baseline_rows/s")
		b.ReportMetric(withDown, "s3_down_rows/s")
		b.ReportMetric(withDown/baseline, "ratio")
		b.Logf("Postgres alone %.0f rows/s, with S3 down %.0f rows/s (medians of %d alternating runs each), ratio %.2f",
			baseline, withDown, pipelineRounds, withDown/baseline)
	}
}

// pipelineRounds is how many runs of each side BenchmarkPostgresWhileS3Down makes.
const pipelineRounds = 3

// median of xs (the mean of the middle two for an even count).
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
