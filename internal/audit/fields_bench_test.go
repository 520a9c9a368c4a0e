package audit_test

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/audittest"
)

// benchRecords are the governed fixture's records, chained, as the exporters rebuild them.
func benchRecords(b *testing.B) []audit.Record {
	cases := fixtureCases("governed", audittest.Batch(audittest.GovernedFixture(b), 10))
	recs := make([]audit.Record, len(cases))
	for i := range cases {
		chainStamp(cases[i].lr, int64(i+1))
		r, err := audit.FromLogRecord(cases[i].res, cases[i].lr)
		if err != nil {
			b.Fatal(err)
		}
		recs[i] = r
	}
	return recs
}

// BenchmarkCanonicalPrepared is the canonical encoder alone (the verifier's path: JSON columns canonical already).
func BenchmarkCanonicalPrepared(b *testing.B) {
	recs := benchRecords(b)
	js := make([]audit.StoredJSON, len(recs))
	for i := range recs {
		r := &recs[i]
		for _, p := range []struct {
			dst *[]byte
			raw []byte
		}{{&js[i].PolicyDetails, r.PolicyDetailsJSON()}, {&js[i].Obligations, r.ObligationsJSON()},
			{&js[i].ComplianceFlags, r.ComplianceFlagsJSON()}, {&js[i].SecurityMetrics, r.SecurityMetricsJSON()},
			{&js[i].Metadata, r.MetadataJSON()}} {
			c, err := audit.CanonicalJSON(p.raw)
			if err != nil {
				b.Fatal(err)
			}
			*p.dst = []byte(c)
		}
	}
	b.ReportAllocs()
	var buf []byte
	n := 0
	for b.Loop() {
		i := n % len(recs)
		var err error
		if buf, err = recs[i].AppendCanonicalPrepared(buf[:0], &js[i]); err != nil {
			b.Fatal(err)
		}
		n++
	}
}

// BenchmarkCanonicalHash is ComputeHash: the JSON columns encoded, canonicalized and the whole hashed.
func BenchmarkCanonicalHash(b *testing.B) {
	recs := benchRecords(b)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if _, err := recs[n%len(recs)].ComputeHash(); err != nil {
			b.Fatal(err)
		}
		n++
	}
}

// BenchmarkCanonicalAttributes is a stamp (WriteAttributes) and a read back (FromLogRecord).
func BenchmarkCanonicalAttributes(b *testing.B) {
	recs := benchRecords(b)
	res := pcommon.NewResource()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		lr := plogRecord()
		recs[n%len(recs)].WriteAttributes(lr.Attributes(), audit.Extra{Event: "user_prompt", Tier: "team"})
		if _, err := audit.FromLogRecord(res, lr); err != nil {
			b.Fatal(err)
		}
		n++
	}
}

func plogRecord() plog.LogRecord { return plog.NewLogRecord() }
