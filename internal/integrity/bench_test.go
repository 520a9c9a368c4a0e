package integrity_test

import (
	"errors"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/audittest"
	"github.com/govcol/govcol/internal/integrity"
	"github.com/govcol/govcol/processor/governanceprocessor/governancetest"
)

// BenchmarkChainLink is the governance processor's cost of chaining one governed record, over the fixture mix, as
// the processor does it (processLogs): LinkRecord, whose hash callback encodes the record (AppendStamped, the
// encoding the processor stamps) and hashes it as the exporters will read it back (LogHasher.StampedHash: the
// canonical encoding, SHA-256), then the hash set in that encoding (SetStampedRecordHash) and the link settled.
// Reported per record. The setup checks that the hash is what an exporter recomputes from the stamped record.
func BenchmarkChainLink(b *testing.B) {
	key, kid, _ := testKey(b)
	c := integrity.NewChainer("inst", key, kid, 1000, time.Hour, time.Now)
	type rec struct {
		res   pcommon.Resource
		lr    plog.LogRecord
		r     audit.Record
		extra audit.Extra
	}
	var recs []rec
	batch := audittest.Batch(governancetest.Governed(b, "tenant-a"), 10) // 110 records
	for _, rl := range batch.ResourceLogs().All() {
		for _, lr := range rl.ScopeLogs().At(0).LogRecords().All() {
			r, err := audit.FromLogRecord(rl.Resource(), lr)
			if err != nil {
				b.Fatal(err)
			}
			str := func(k string) string { s, _ := r.Metadata[k].(string); return s }
			extra := audit.Extra{Event: str("event_name"), LicenseID: str("license_id"), Tier: str("license_tier"),
				AttemptedUserEmail: str("attempted_user_email"), PolicyLabel: audit.PolicyLabel(r.PolicyDetails.TopPolicy)}
			r.Metadata = nil
			lr.Attributes().Remove(audit.AttrRecord) // the processor hashes the record before stamping it
			recs = append(recs, rec{res: rl.Resource(), lr: lr, r: r, extra: extra})
		}
	}
	// As in the processor, the record and the encoding are scratch space reused from one record to the next.
	var r audit.Record
	var stamped []byte
	var x *rec
	hash := func(r *audit.Record, h *audit.LogHasher) (string, error) {
		stamped = r.AppendStamped(stamped[:0], &x.extra)
		return h.StampedHash(x.res, x.lr, stamped)
	}
	links := make([]integrity.Link, 1)
	link := func(next *rec) error {
		x, r = next, next.r
		l, err := c.LinkRecord("tenant-a", &r, hash)
		if err != nil {
			return err
		}
		var ok bool
		if stamped, ok = audit.SetStampedRecordHash(stamped, r.RecordHash); !ok {
			return errors.New("not stamped")
		}
		links[0] = l
		c.Settle(links, true)
		return nil
	}
	for i := range recs { // what an exporter reads back from the stamped record hashes the same
		if err := link(&recs[i]); err != nil {
			b.Fatal(err)
		}
		lr := plog.NewLogRecord()
		recs[i].lr.CopyTo(lr)
		lr.Attributes().PutEmptyBytes(audit.AttrRecord).FromRaw(stamped)
		back, err := audit.FromLogRecord(recs[i].res, lr)
		if err != nil {
			b.Fatal(err)
		}
		if h, err := back.ComputeHash(); err != nil || h != r.RecordHash || back.RecordHash != r.RecordHash {
			b.Fatalf("record %d: chained %s, read back %s (%v)", i, r.RecordHash, h, err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		if err := link(&recs[n%len(recs)]); err != nil {
			b.Fatal(err)
		}
		n++
	}
}

// BenchmarkLinkReadBack is Chainer.Link over the fixture mix: a stamped record chained from its attributes (the
// chain attributes stamped, audit.record copied out of the record and read back, hashed, record_hash stamped), as
// the processor did before it hashed the encoding it stamps. Reported per record.
func BenchmarkLinkReadBack(b *testing.B) {
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
