package audit_test

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/audittest"
)

// The fast hash agrees with the reference (FromLogRecord + ComputeHash) on every fixture record and on the edge
// cases, declines exactly the records the reference refuses, and takes the fast path for every fixture record. One
// LogHasher hashes all of them in turn, so its reused buffers and memos are exercised too.
func TestLogHasherMatchesReference(t *testing.T) {
	governed := audittest.GovernedFixture(t)
	cases := fixtureCases("governed", governed)
	cases = append(cases, fixtureCases("batch", audittest.Batch(governed, 3))...)
	cases = append(cases, fixtureCases("renumbered", audittest.Renumber(governed, time.Date(2027, 1, 2, 3, 4, 5, 6, time.UTC)))...)
	attributeForm := audittest.GovernedFixture(t) // as stamped before audit.record: every field an attribute
	require.NoError(t, audit.ToAttributeForm(attributeForm))
	cases = append(cases, fixtureCases("attribute-form", attributeForm)...)
	fast := len(cases)
	for i := range cases {
		chainStamp(cases[i].lr, int64(i+1))
	}
	cases = append(cases, fixtureCases("raw", audittest.Raw(t, 3600))...) // not governed: refused
	cases = append(cases, edgeCases(t)...)

	var h audit.LogHasher
	declined := map[string]int{}
	for round := range 2 { // the second round hits the memos
		for i, c := range cases {
			want, werr := referenceHash(c)
			got, ok := h.LogRecordHash(c.res, c.lr)
			if werr != nil {
				assert.False(t, ok, "%s: the reference refuses it (%v), the fast path hashed it", c.name, werr)
				continue
			}
			if !ok {
				require.Greater(t, i, fast-1, "%s: a fixture record must take the fast path", c.name)
				declined[c.name]++
				continue
			}
			require.Equal(t, want, got, "%s (round %d)", c.name, round)
		}
	}
	// Only what LogHasher documents as declined (bytes values, keys that are not UTF-8) takes the reference path.
	for name := range declined {
		assert.Contains(t, []string{"bytes-value", "invalid-utf8-key"}, name[:max(0, indexSlash(name))], name)
	}
}

func indexSlash(s string) int {
	for i := range s {
		if s[i] == '/' {
			return i
		}
	}
	return len(s)
}

// FuzzLogHasher adds fuzzed attributes (a string, a double, an int, a nested map) to a governed record and to its
// resource and compares the fast hash with the reference, and the exporters' decodes (the metadata JSON written
// directly) with FromLogRecord.
func FuzzLogHasher(f *testing.F) {
	f.Add("key", "value", 1.5, int64(7), "nested", "\u2028<&>")
	f.Add("ключ", "\xff\x00", math.Inf(1), int64(math.MinInt64), "", "")
	f.Add("audit.query", "q", 1e21, int64(0), "audit.cost", "x")
	f.Add("resource", "r", 5e-324, int64(-1), "a", "\\\"")
	base := audittest.GovernedFixture(f)
	var h audit.LogHasher
	f.Fuzz(func(t *testing.T, k, s string, d float64, n int64, k2, s2 string) {
		ld := plog.NewLogs()
		base.CopyTo(ld)
		rl := ld.ResourceLogs().At(int(uint64(n) % uint64(ld.ResourceLogs().Len())))
		lr := rl.ScopeLogs().At(0).LogRecords().At(0)
		chainStamp(lr, n)
		for _, m := range []pcommon.Map{lr.Attributes(), rl.Resource().Attributes()} {
			m.PutStr(k, s)
			m.PutDouble(k+".d", d)
			m.PutInt(k2+".n", n)
			nm := m.PutEmptyMap(k2)
			nm.PutStr(s2, s)
			nm.PutDouble(s, d)
			sl := nm.PutEmptySlice(k)
			sl.AppendEmpty().SetStr(s2)
			sl.AppendEmpty().SetDouble(-d)
		}
		c := hashCase{res: rl.Resource(), lr: lr}
		checkExportDecodes(t, c.res, c.lr)
		want, werr := referenceHash(c)
		got, ok := h.LogRecordHash(c.res, c.lr)
		switch {
		case werr != nil && ok:
			t.Fatalf("the reference refuses the record (%v), the fast path hashed it", werr)
		case werr == nil && ok && got != want:
			t.Fatalf("fast %s, reference %s", got, want)
		}
	})
}

// BenchmarkLogHasher is the fast hash alone over the fixture mix.
func BenchmarkLogHasher(b *testing.B) {
	cases := fixtureCases("governed", audittest.Batch(audittest.GovernedFixture(b), 10))
	for i := range cases {
		chainStamp(cases[i].lr, int64(i+1))
	}
	var h audit.LogHasher
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		c := cases[n%len(cases)]
		if _, ok := h.LogRecordHash(c.res, c.lr); !ok {
			b.Fatal("declined")
		}
		n++
	}
}
