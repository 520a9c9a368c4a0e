package audit_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/audittest"
)

// StampedHash (the chain hashes a record before stamping it) gives what the exporters compute once it is stamped:
// FromLogRecord then ComputeHash, for every fixture record and the edge cases that do not override audit.record.
func TestStampedHashMatchesReference(t *testing.T) {
	cases := fixtureCases("governed", audittest.GovernedFixture(t))
	cases = append(cases, edgeCases(t)...)
	var h audit.LogHasher
	checked := 0
	for _, c := range cases {
		v, ok := c.lr.Attributes().Get(audit.AttrRecord)
		if !ok || v.Type() != pcommon.ValueTypeBytes {
			continue
		}
		stamped := v.Bytes().AsRaw()
		want, werr := referenceHash(c)
		lr := plog.NewLogRecord()
		c.lr.CopyTo(lr)
		lr.Attributes().Remove(audit.AttrRecord)
		buf := append([]byte{}, stamped...)
		got, err := h.StampedHash(c.res, lr, buf)
		for i := range buf { // the hasher keeps nothing that points into the caller's buffer
			buf[i] = 0xAA
		}
		if werr != nil {
			assert.Error(t, err, c.name)
			continue
		}
		require.NoError(t, err, c.name)
		require.Equal(t, want, got, c.name)
		checked++
	}
	assert.Greater(t, checked, 100)
}

// The compact encoding round-trips every field, including the edge values of each kind.
func TestStampedRoundTrip(t *testing.T) {
	ts := time.Date(2262, 4, 11, 23, 47, 16, 854775807, time.UTC)
	f, n := math.Inf(-1), int64(math.MinInt64)
	long := strings.Repeat("ü", 200)
	in := audit.Record{
		ID: "aud_1", DecisionID: "d", Timestamp: ts, ReceivedAt: time.Unix(-62135596800, 0).UTC(), TenantID: "t",
		RequestType: long, PolicyDecision: audit.VerdictBlocked,
		PolicyDetails: audit.PolicyDetails{Evaluated: []audit.PolicyResult{{ID: "p", Matched: true, Verdict: audit.VerdictBlocked, Reason: long}},
			Matched: []string{"p"}, Reasons: []string{long}, TopPolicy: "p"},
		Obligations: []string{}, PIITypes: []string{"ssn", ""}, RedactedFields: []string{long},
		Query: long + long, ResponseTimeMS: &n, Cost: &f, ChainSeq: math.MaxInt64, RecordHash: "v1:x",
		ComplianceFlags: audit.ComplianceFlags{PIIAccess: true, SecretExposure: true},
		SecurityMetrics: audit.SecurityMetrics{RiskScore: 95, QueryComplexity: "high"},
	}
	lr := plog.NewLogRecord()
	in.WriteAttributes(lr.Attributes(), audit.Extra{Event: "e", LicenseID: long})
	out, err := audit.FromLogRecord(pcommon.NewResource(), lr)
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"event_name": "e", "license_id": long}, out.Metadata)
	out.Metadata = nil
	assert.Equal(t, in, out)
}

// SetStampedRecordHash gives the encoding AppendStamped writes with the hash set, for every fixture record and
// hashes of several lengths (the length prefix grows past one byte), and refuses an encoding whose record_hash is
// not empty.
func TestSetStampedRecordHash(t *testing.T) {
	checked := 0
	for _, c := range fixtureCases("governed", audittest.GovernedFixture(t)) {
		r, err := audit.FromLogRecord(c.res, c.lr)
		require.NoError(t, err)
		x := audit.Extra{Event: "e", LicenseID: "l"}
		for _, h := range []string{"v1:" + strings.Repeat("ab", 32), "x", strings.Repeat("h", 300)} {
			r.RecordHash = ""
			empty := r.AppendStamped(nil, &x)
			got, ok := audit.SetStampedRecordHash(empty, h)
			require.True(t, ok)
			r.RecordHash = h
			require.Equal(t, r.AppendStamped(nil, &x), got)
			_, ok = audit.SetStampedRecordHash(got, h)
			assert.False(t, ok, "a record_hash is there already")
			checked++
		}
	}
	assert.Greater(t, checked, 10)
	_, ok := audit.SetStampedRecordHash(nil, "x")
	assert.False(t, ok)
}

// A named attribute set after the processor takes precedence over audit.record, as every attribute did before.
func TestAttributeOverridesStamped(t *testing.T) {
	ld := audittest.GovernedFixture(t)
	rl := ld.ResourceLogs().At(0)
	lr := rl.ScopeLogs().At(0).LogRecords().At(0)
	lr.Attributes().PutStr(audit.AttrQuery, "overridden")
	lr.Attributes().PutStr(audit.AttrUserEmail, "alice@example.com")
	r, err := audit.FromLogRecord(rl.Resource(), lr)
	require.NoError(t, err)
	assert.Equal(t, "overridden", r.Query)
	assert.Equal(t, "alice@example.com", r.UserEmail)
}

// Whatever audit.record holds, decoding it fails cleanly or yields a record, the same with each exporter's decode;
// it never panics.
func FuzzStampedDecode(f *testing.F) {
	ld := audittest.GovernedFixture(f)
	for _, c := range fixtureCases("governed", ld) {
		v, _ := c.lr.Attributes().Get(audit.AttrRecord)
		f.Add(v.Bytes().AsRaw())
	}
	f.Add([]byte{1, 43, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		lr := plog.NewLogRecord()
		lr.Attributes().PutEmptyBytes(audit.AttrRecord).FromRaw(b)
		checkExportDecodes(t, pcommon.NewResource(), lr)
		var h audit.LogHasher
		_, _ = h.LogRecordHash(pcommon.NewResource(), lr)
	})
}

// BenchmarkStampedHash is the chain's hash of a record before it is stamped (LogHasher.StampedHash) over the
// fixture mix.
func BenchmarkStampedHash(b *testing.B) {
	type c struct {
		res     pcommon.Resource
		lr      plog.LogRecord
		stamped []byte
	}
	var cases []c
	for _, fc := range fixtureCases("governed", audittest.Batch(audittest.GovernedFixture(b), 10)) {
		v, _ := fc.lr.Attributes().Get(audit.AttrRecord)
		stamped := v.Bytes().AsRaw()
		fc.lr.Attributes().Remove(audit.AttrRecord)
		cases = append(cases, c{fc.res, fc.lr, stamped})
	}
	var h audit.LogHasher
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		x := cases[n%len(cases)]
		if _, err := h.StampedHash(x.res, x.lr, x.stamped); err != nil {
			b.Fatal(err)
		}
		n++
	}
}

// BenchmarkExportRow is an exporter's per-record decode over the fixture mix: the Postgres exporter's (the record
// read back and its JSON columns encoded, as COPY sends them) and the S3 decision exporter's (the record read back
// with its event name).
func BenchmarkExportRow(b *testing.B) {
	type c struct {
		res pcommon.Resource
		lr  plog.LogRecord
	}
	var cases []c
	for _, fc := range fixtureCases("governed", audittest.Batch(audittest.GovernedFixture(b), 10)) {
		cases = append(cases, c{fc.res, fc.lr})
	}
	b.Run("postgres", func(b *testing.B) {
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			x := cases[n%len(cases)]
			r, err := exportRowPostgres(x.res, x.lr)
			if err != nil {
				b.Fatal(err)
			}
			_ = r.StoredJSON()
			n++
		}
	})
	b.Run("s3decision", func(b *testing.B) {
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			x := cases[n%len(cases)]
			if _, err := exportRowDecision(x.res, x.lr); err != nil {
				b.Fatal(err)
			}
			n++
		}
	})
}
