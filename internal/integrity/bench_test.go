package integrity_test

import (
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/govcol/govcol/internal/audittest"
	"github.com/govcol/govcol/internal/integrity"
	"github.com/govcol/govcol/processor/governanceprocessor/governancetest"
)

// BenchmarkChainLink is the processor's cost of chaining one governed record (read it back as exporters will,
// canonical encoding, SHA-256, stamp four attributes), over the fixture mix. Reported per record.
func BenchmarkChainLink(b *testing.B) {
	key, kid, _ := testKey(b)
	c := integrity.NewChainer("inst", key, kid, 1000, time.Hour, time.Now)
	batch := audittest.Batch(governancetest.Governed(b, "tenant-a"), 10) // 110 records
	var lrs []plog.LogRecord
	var rls []plog.ResourceLogs
	for _, rl := range batch.ResourceLogs().All() {
		for _, lr := range rl.ScopeLogs().At(0).LogRecords().All() {
			lrs, rls = append(lrs, lr), append(rls, rl)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		i := n % len(lrs)
		link, err := c.Link(rls[i].Resource(), lrs[i], "tenant-a")
		if err != nil {
			b.Fatal(err)
		}
		c.Settle([]integrity.Link{link}, true)
		n++
	}
}

// BenchmarkVerifyChain verifies a chain of 11,000 records in memory (hashes, links, checkpoints); reported as
// records per second.
func BenchmarkVerifyChain(b *testing.B) {
	key, kid, keys := testKey(b)
	entries, cps := chained(b, integrity.NewChainer("inst", key, kid, 1000, time.Hour, time.Now), 1000)
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		es := append([]integrity.Entry(nil), entries...)
		if rep := integrity.VerifyChain(es, cps, keys); !rep.OK() {
			b.Fatal(rep.Failures[0])
		}
	}
	b.ReportMetric(float64(len(entries)*b.N)/time.Since(start).Seconds(), "records/s")
}
