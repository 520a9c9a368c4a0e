package audit_test

import (
	"math"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/audittest"
)

// hashCase is one log record to hash, with its resource.
type hashCase struct {
	name string
	res  pcommon.Resource
	lr   plog.LogRecord
}

// fixtureCases returns every record of ld as a case.
func fixtureCases(name string, ld plog.Logs) []hashCase {
	var out []hashCase
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				out = append(out, hashCase{name: name + "/" + eventOf(lr), res: rl.Resource(), lr: lr})
			}
		}
	}
	return out
}

func eventOf(lr plog.LogRecord) string {
	if v, ok := lr.Attributes().Get(audit.AttrEvent); ok {
		return v.AsString()
	}
	return "-"
}

// chainStamp stamps the chain fields as integrity.Chainer.Link does before hashing.
func chainStamp(lr plog.LogRecord, seq int64) {
	a := lr.Attributes()
	a.PutStr(audit.AttrChainID, "inst/tenant-a/20260101T000000.000000Z-abcdef")
	a.PutInt(audit.AttrChainSeq, seq)
	a.PutStr(audit.AttrPrevHash, "v1:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	a.Remove(audit.AttrRecordHash)
}

// edgeCases applies each edge-case mutation to a copy of every record of the governed fixture: empty and absent
// fields, unicode, control characters and invalid UTF-8, big and odd numbers, NaN and infinities, nested and
// repeated metadata, odd attribute types, malformed stamped values. Deterministic (received_at and query_hash are
// pinned), so that canonical encodings can be compared across versions of the encoder.
func edgeCases(t testing.TB) []hashCase {
	base := audittest.GovernedFixture(t)
	var out []hashCase
	seq := int64(0)
	for _, m := range edgeMutations() {
		ld := plog.NewLogs()
		base.CopyTo(ld)
		for _, c := range fixtureCases(m.name, ld) {
			seq++
			c.lr.Attributes().PutStr(audit.AttrReceivedAt, "2026-11-23T10:47:15.123668Z")
			if _, ok := c.lr.Attributes().Get(audit.AttrQueryHash); ok { // keyed per processor instance
				c.lr.Attributes().PutStr(audit.AttrQueryHash, "hmac-sha256:pinned")
			}
			chainStamp(c.lr, seq)
			m.f(c.res, c.lr)
			out = append(out, c)
		}
	}
	out = append(out, duplicateKeyCases(t)...)
	return out
}

type mutation struct {
	name string
	f    func(res pcommon.Resource, lr plog.LogRecord)
}

func edgeMutations() []mutation {
	nested := func(m pcommon.Map) {
		n := m.PutEmptyMap("nested")
		n.PutStr("z", "last")
		n.PutStr("a", "first <&> \u2028")
		n.PutDouble("nan", math.NaN())
		n.PutEmpty("null")
		l := n.PutEmptySlice("list")
		l.AppendEmpty().SetDouble(math.Inf(-1))
		l.AppendEmpty().SetInt(-1)
		l.AppendEmpty().SetEmptyMap().PutStr("k", "v")
		l.AppendEmpty().SetEmptySlice()
		l.AppendEmpty().SetBool(false)
		n.PutEmptyMap("empty_map")
		n.PutEmptySlice("empty_slice")
	}
	return []mutation{
		{"as-is", func(pcommon.Resource, plog.LogRecord) {}},
		{"empty-fields", func(_ pcommon.Resource, lr plog.LogRecord) {
			a := lr.Attributes()
			for _, k := range []string{audit.AttrRequestID, audit.AttrCorrelationID, audit.AttrUserID, audit.AttrSessionID,
				audit.AttrQuery, audit.AttrResponseSample, audit.AttrQueryHash, audit.AttrModel, audit.AttrProvider,
				audit.AttrToolName, audit.AttrPolicyDetails, audit.AttrObligations, audit.AttrComplianceFlags,
				audit.AttrSecurityMetrics, audit.AttrChainSeq, audit.AttrEvent, audit.AttrInputTokens, audit.AttrCost} {
				a.Remove(k)
			}
			a.PutStr(audit.AttrPrevHash, "")
			a.PutStr(audit.AttrClientID, "")
			a.PutStr(audit.AttrPIITypes, "not a list")
		}},
		{"no-metadata", func(res pcommon.Resource, lr plog.LogRecord) {
			res.Attributes().Clear()
			lr.Attributes().RemoveIf(func(k string, _ pcommon.Value) bool { return k[:min(len(k), 6)] != "audit." })
			lr.Attributes().Remove(audit.AttrEvent)
		}},
		{"unicode", func(res pcommon.Resource, lr plog.LogRecord) {
			a := lr.Attributes()
			a.PutStr(audit.AttrQuery, "héllo 世界 \u2028\u2029 <b>&amp; 😀 \"quoted\" \\ back")
			a.PutStr("ключ", "значение")
			a.PutStr("emoji😀", "😀\u00e9")
			a.PutStr("zz", "\x00\x01\b\f\n\r\t\x1f\x7f<>&")
			a.PutStr(audit.AttrDecisionID, "01A2026F-3DE8-77F2-817F-3E5BBAFC48D6")
			a.PutStr(audit.AttrUserEmail, "ünïcødé@example.com")
			o := a.PutEmptySlice(audit.AttrObligations)
			o.AppendEmpty().SetStr("redact_pii")
			o.AppendEmpty().SetStr("ü <&> \u2028 \x01")
			p := a.PutEmptySlice(audit.AttrPIITypes)
			p.AppendEmpty().SetStr("email")
			p.AppendEmpty().SetStr("ssn")
			r := a.PutEmptySlice(audit.AttrRedactedFields)
			r.AppendEmpty().SetStr("prompt")
			res.Attributes().PutStr("host.name", "hôte")
		}},
		{"invalid-utf8", func(res pcommon.Resource, lr plog.LogRecord) {
			a := lr.Attributes()
			a.PutStr("bad", "a\xffb\xc3(c\xed\xa0\x80d")
			a.PutStr(audit.AttrQuery, "raw \xff bytes")
			o := a.PutEmptySlice(audit.AttrObligations)
			o.AppendEmpty().SetStr("x\xfe")
			// Sanitized as the processor does (invalid bytes replaced): the same value, now valid.
			a.PutStr("sanitized", "a\uFFFDb\uFFFD(c\uFFFD\uFFFD\uFFFDd")
			res.Attributes().PutStr("r", "\xff")
		}},
		{"invalid-utf8-key", func(_ pcommon.Resource, lr plog.LogRecord) {
			lr.Attributes().PutStr("k\xff", "v")
			lr.Attributes().PutStr("k\uFFFD", "w")
		}},
		{"numbers", func(res pcommon.Resource, lr plog.LogRecord) {
			a := lr.Attributes()
			a.PutInt("max", math.MaxInt64)
			a.PutInt("min", math.MinInt64)
			a.PutInt("zero", 0)
			for i, f := range []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 0.5, 1.5, 100, 1e20, 1e21, 1.2345e21, 1e-6, 1e-7,
				9.999e-7, 5e-324, math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64, 123456.789, 0.0056099999999999995,
				1.0 / 3, 2.5e-6, 12345678901234567890, 0.1 + 0.2, math.Pi, -2.75, 1e300, 4.9e-300} {
				a.PutDouble("f"+string(rune('a'+i)), f)
			}
			a.PutDouble(audit.AttrCost, 0.1+0.2)
			a.PutInt(audit.AttrResponseTimeMS, math.MaxInt64)
			a.PutStr(audit.AttrInputTokens, "12") // not an int attribute: NULL
			a.PutDouble(audit.AttrOutputTokens, 3)
			a.PutInt(audit.AttrTokensUsed, -5)
			a.PutInt(audit.AttrChainSeq, math.MaxInt64)
			res.Attributes().PutDouble("res.f", 2.5)
		}},
		{"non-finite", func(_ pcommon.Resource, lr plog.LogRecord) {
			a := lr.Attributes()
			a.PutDouble("nan", math.NaN())
			a.PutDouble("inf", math.Inf(1))
			a.PutDouble("-inf", math.Inf(-1))
			a.PutStr("nan_str", "NaN")
			a.PutDouble(audit.AttrCost, math.Inf(1))
		}},
		{"nested", func(res pcommon.Resource, lr plog.LogRecord) {
			nested(lr.Attributes())
			nested(res.Attributes())
			lr.Attributes().PutEmpty("empty")
			lr.Attributes().PutBool("t", true)
		}},
		{"overrides", func(_ pcommon.Resource, lr plog.LogRecord) {
			a := lr.Attributes()
			a.PutStr("resource", "shadowed by the resource")
			a.PutStr("event_name", "shadowed by audit.event")
			a.PutStr("license_id", "kept unless audit.license_id")
			a.PutStr(audit.AttrLicenseID, "lic-1")
			a.PutStr(audit.AttrTier, "enterprise")
			a.PutStr(audit.AttrAttemptedEmail, "a@b.c")
			a.PutStr("prompt", "content keys are not metadata")
			a.PutStr("response", "nor this")
		}},
		{"empty-resource", func(res pcommon.Resource, _ plog.LogRecord) { res.Attributes().Clear() }},
		{"ids-and-times", func(_ pcommon.Resource, lr plog.LogRecord) {
			lr.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
			lr.SetSpanID(pcommon.SpanID{0xa, 0xb, 0xc, 0xd, 0xe, 0xf, 0, 1})
			a := lr.Attributes()
			a.PutStr(audit.AttrTimestamp, "2026-01-02T03:04:05.123456789+05:30")
			a.PutStr(audit.AttrReceivedAt, "0000-06-01T00:00:00.5-01:00")
		}},
		{"odd-types", func(_ pcommon.Resource, lr plog.LogRecord) {
			a := lr.Attributes()
			a.PutInt(audit.AttrRequestID, 42)
			a.PutBool(audit.AttrModel, true)
			a.PutInt(audit.AttrChainID, 7)
			a.PutEmptySlice(audit.AttrQueryHash).AppendEmpty().SetStr("x")
			pii := a.PutEmptySlice(audit.AttrPIITypes)
			pii.AppendEmpty().SetInt(3)
			pii.AppendEmpty().SetEmptyMap().PutStr("a", "b")
			a.PutStr(audit.AttrChainSeq, "12")
		}},
		{"stamped-json-variants", func(_ pcommon.Resource, lr plog.LogRecord) {
			a := lr.Attributes()
			a.PutStr(audit.AttrPolicyDetails, ` {"top_policy":"p1","reasons":["ünï <x>","b\"q"],"matched":["p1"],"unknown":1,`+
				`"evaluated":[{"severity":"high","id":"p1","matched":true,"verdict":"blocked","reason":"r","error":false}]} `)
			a.PutStr(audit.AttrComplianceFlags, `{"secret_exposure":true, "pii_access":true}`)
			a.PutStr(audit.AttrSecurityMetrics, `{"query_complexity":"high","risk_score":95,"extra":[1,2]}`)
		}},
		{"bytes-value", func(_ pcommon.Resource, lr plog.LogRecord) {
			lr.Attributes().PutEmptyBytes("blob").FromRaw([]byte{0, 1, 2, 0xff})
			lr.Attributes().PutEmptyBytes("empty_blob")
		}},
		// Records the reference refuses; the fast path must decline them too.
		{"bad-timestamp", func(_ pcommon.Resource, lr plog.LogRecord) { lr.Attributes().PutStr(audit.AttrTimestamp, "yesterday") }},
		{"bad-received", func(_ pcommon.Resource, lr plog.LogRecord) { lr.Attributes().PutStr(audit.AttrReceivedAt, "") }},
		{"zero-timestamp", func(_ pcommon.Resource, lr plog.LogRecord) {
			lr.Attributes().PutStr(audit.AttrTimestamp, "0001-01-01T00:00:00Z")
		}},
		{"no-id", func(_ pcommon.Resource, lr plog.LogRecord) { lr.Attributes().PutStr(audit.AttrID, "") }},
		{"stamped-truncated", func(_ pcommon.Resource, lr plog.LogRecord) {
			v, _ := lr.Attributes().Get(audit.AttrRecord)
			b := v.Bytes().AsRaw()
			v.Bytes().FromRaw(b[:len(b)-3])
		}},
		{"stamped-not-bytes", func(_ pcommon.Resource, lr plog.LogRecord) { lr.Attributes().PutStr(audit.AttrRecord, "x") }},
		{"stamped-other-version", func(_ pcommon.Resource, lr plog.LogRecord) {
			v, _ := lr.Attributes().Get(audit.AttrRecord)
			b := v.Bytes().AsRaw() // a copy: CopyTo shares the bytes of a bytes value
			b[0] = 9
			lr.Attributes().PutEmptyBytes(audit.AttrRecord).FromRaw(b)
		}},
		{"no-tenant", func(_ pcommon.Resource, lr plog.LogRecord) { lr.Attributes().PutStr(audit.AttrTenantID, "") }},
		{"bad-verdict", func(_ pcommon.Resource, lr plog.LogRecord) {
			lr.Attributes().PutStr(audit.AttrPolicyDecision, "maybe")
		}},
		{"bad-policy-details", func(_ pcommon.Resource, lr plog.LogRecord) {
			lr.Attributes().PutStr(audit.AttrPolicyDetails, `{"evaluated":`)
		}},
		{"bad-flags", func(_ pcommon.Resource, lr plog.LogRecord) {
			lr.Attributes().PutStr(audit.AttrComplianceFlags, `{"pii_access":"yes"}`)
		}},
		{"bad-metrics", func(_ pcommon.Resource, lr plog.LogRecord) {
			lr.Attributes().PutStr(audit.AttrSecurityMetrics, `[]`)
		}},
	}
}

// duplicateKeyCases are records read from OTLP JSON with repeated attribute keys (pcommon keeps them): Map.Get sees
// the first, AsRaw keeps the last.
func duplicateKeyCases(t testing.TB) []hashCase {
	const doc = `{"resourceLogs":[{"resource":{"attributes":[
		{"key":"service.name","value":{"stringValue":"svc"}},{"key":"service.name","value":{"stringValue":"svc2"}}]},
	"scopeLogs":[{"logRecords":[{"attributes":[
		{"key":"audit.id","value":{"stringValue":"aud_first"}},{"key":"audit.id","value":{"stringValue":"aud_second"}},
		{"key":"audit.decision_id","value":{"stringValue":"01a2026f-3de8-77f2-817f-3e5bbafc48d6"}},
		{"key":"audit.timestamp","value":{"stringValue":"2026-11-22T08:46:14.504Z"}},
		{"key":"audit.received_at","value":{"stringValue":"2026-11-23T10:47:15.123668Z"}},
		{"key":"audit.tenant_id","value":{"stringValue":"tenant-a"}},
		{"key":"audit.policy_decision","value":{"stringValue":"allowed"}},
		{"key":"audit.policy_decision","value":{"stringValue":"blocked"}},
		{"key":"audit.event","value":{"stringValue":""}},
		{"key":"audit.event","value":{"stringValue":"second"}},
		{"key":"dup","value":{"stringValue":"one"}},
		{"key":"b","value":{"intValue":"1"}},
		{"key":"dup","value":{"stringValue":"two"}},
		{"key":"a","value":{"kvlistValue":{"values":[{"key":"x","value":{"intValue":"1"}},{"key":"x","value":{"intValue":"2"}}]}}},
		{"key":"dup","value":{"doubleValue":3.5}}
	]}]}]}]}`
	ld, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return fixtureCases("duplicate-keys", ld)
}

// referenceHash is the definition: rebuild the record as the exporters do and hash its canonical encoding.
func referenceHash(c hashCase) (string, error) {
	rec, err := audit.FromLogRecord(c.res, c.lr)
	if err != nil {
		return "", err
	}
	return rec.ComputeHash()
}
