package s3decisionexporter

import (
	"compress/gzip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/audittest"
)

// BenchmarkBatchedCompressionLevels compresses the same decision lines (the governed fixture, renumbered into 2,200
// distinct decisions) into a batched partition at gzip's default level 6 and at the default of
// batch.compression_level, alternating the two over five rounds; reports the time and the compressed bytes per
// decision of each and the ratio of the times (level 6 over the default).
// Run: go test -run '^$' -bench BatchedCompressionLevels -benchtime 1x ./exporter/s3decisionexporter/
func BenchmarkBatchedCompressionLevels(b *testing.B) {
	ld := audittest.Batch(audittest.GovernedFixture(b), 200)
	var lines []item
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				r, raw, err := audit.FromLogRecordForDecision(rl.Resource(), lr)
				require.NoError(b, err)
				d := newDecision(&r, raw)
				body, err := d.body()
				require.NoError(b, err)
				lines = append(lines, item{line: body, received: time.Now()})
			}
		}
	}
	levels := [2]int{gzip.DefaultCompression, createDefaultConfig().(*Config).Batch.CompressionLevel}
	const rounds, passes = 5, 10
	for b.Loop() {
		var spent [2]time.Duration
		var size [2]int
		for round := range rounds {
			for k := range levels {
				side := (k + round) % 2 // alternate which level goes first
				start := time.Now()
				for range passes {
					p := newPartition(time.Now(), true, levels[side])
					for _, it := range lines {
						p.add(it)
					}
					require.NoError(b, p.gz.Close())
					size[side] += p.buf.Len()
				}
				spent[side] += time.Since(start)
			}
		}
		n := float64(rounds * passes * len(lines))
		b.ReportMetric(float64(spent[0].Nanoseconds())/n, "level6_ns/decision")
		b.ReportMetric(float64(spent[1].Nanoseconds())/n, "default_ns/decision")
		b.ReportMetric(float64(size[0])/n, "level6_B/decision")
		b.ReportMetric(float64(size[1])/n, "default_B/decision")
		b.ReportMetric(spent[0].Seconds()/spent[1].Seconds(), "level6_time_vs_default")
	}
}
