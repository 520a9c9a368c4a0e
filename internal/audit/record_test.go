package audit

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

func ptr[T any](v T) *T { return &v }

func TestVerdictPrecedence(t *testing.T) {
	// error > blocked > needs_approval > redacted > allowed, whatever the order they arrive in.
	for i, a := range Verdicts {
		for j, b := range Verdicts {
			want := a
			if j > i {
				want = b
			}
			assert.Equal(t, want, Stronger(a, b), "%s vs %s", a, b)
			assert.Equal(t, want, Stronger(b, a), "%s vs %s", b, a)
		}
	}
	assert.False(t, Verdict("maybe").Valid())
	assert.Equal(t, VerdictAllowed, Stronger(VerdictAllowed, "maybe"))
}

func TestRecordAttributesRoundTrip(t *testing.T) {
	ts := time.Date(2026, 11, 22, 8, 46, 14, 732000000, time.UTC)
	id, did := "aud_00112233445566778899aabbccddeeff", "019aab20-c2f4-7000-8000-000000000001"
	in := Record{
		ID: id, DecisionID: did, Timestamp: ts, ReceivedAt: ts.Add(time.Second),
		RequestID: "req_01", CorrelationID: "prompt-1",
		RequestType: "claude_code_user_prompt", Plane: PlaneClaudeCode, Origin: OriginClaudeCode,
		OrgID: "org", TenantID: "tenant-a", ClientID: "client", UserEmail: "dev@example.com",
		IdentitySource: IdentityHeader, UserID: "u1", SessionID: "sess",
		PolicyDecision: VerdictRedacted,
		PolicyDetails: PolicyDetails{
			Evaluated: []PolicyResult{{ID: "sys_pii_redaction", Matched: true, Verdict: VerdictRedacted, Severity: "low", Reason: "masked"}, {ID: "p2"}},
			Matched:   []string{"sys_pii_redaction"}, Reasons: []string{"masked"}, TopPolicy: "sys_pii_redaction",
		},
		Obligations: []string{ObligationRedactPII}, PIITypes: []string{"credit_card", "ssn"}, RedactedFields: []string{"prompt"},
		Query: "My SSN is [REDACTED:ssn]", QueryHash: "hmac-sha256:00", Provider: "anthropic", Model: "claude", ToolName: "Bash",
		ResponseTimeMS: ptr(int64(92)), InputTokens: ptr(int64(1200)), OutputTokens: ptr(int64(25)), TokensUsed: ptr(int64(1225)), Cost: ptr(0.0056),
		ComplianceFlags: ComplianceFlags{PIIAccess: true, PCIRelevant: true, GDPRApplicable: true, HIPAARelevant: true}, SecurityMetrics: SecurityMetrics{RiskScore: 25, QueryComplexity: "low"},
		ChainID: "c1", ChainSeq: 7, PrevHash: "aa", RecordHash: "bb",
	}
	res := pcommon.NewResource()
	res.Attributes().PutStr("service.name", "claude-code")
	lr := plog.NewLogRecord()
	lr.SetTraceID(pcommon.TraceID{1, 2, 3})
	lr.Attributes().PutStr("prompt", "My SSN is [REDACTED:ssn]")
	lr.Attributes().PutStr("plugin.name", "x")
	lr.Attributes().PutInt("event.sequence", 5)
	in.WriteAttributes(lr.Attributes(), Extra{Event: "user_prompt", LicenseID: "lic-1", Tier: "team", AttemptedUserEmail: "other@example.com"})

	out, err := FromLogRecord(res, lr)
	require.NoError(t, err)
	assert.Equal(t, "01020300000000000000000000000000", out.TraceID)
	assert.Empty(t, out.SpanID)
	// Metadata is derived: the remaining attributes, the resource and the extra facts; content keys are not repeated.
	assert.Equal(t, map[string]any{
		"plugin.name": "x", "event.sequence": int64(5), "event_name": "user_prompt", "license_id": "lic-1",
		"license_tier": "team", "attempted_user_email": "other@example.com",
		"resource": map[string]any{"service.name": "claude-code"},
	}, out.Metadata)
	out.Metadata, out.TraceID = nil, ""
	assert.Equal(t, in, out)

	// JSON is the S3 / fallback representation; nil numbers stay null, never 0.
	in.Cost, in.InputTokens = nil, nil
	b, err := json.Marshal(in)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	assert.Nil(t, m["cost"])
	assert.Contains(t, m, "cost")
	assert.Nil(t, m["input_tokens"])
}

func TestFromLogRecordRefusesUngoverned(t *testing.T) {
	lr := plog.NewLogRecord()
	lr.Attributes().PutStr("prompt", "hi")
	_, err := FromLogRecord(pcommon.NewResource(), lr)
	require.ErrorContains(t, err, "did not pass through the governance processor")

	lr.Attributes().PutStr(AttrID, "aud_1")
	lr.Attributes().PutStr(AttrTimestamp, "yesterday")
	_, err = FromLogRecord(pcommon.NewResource(), lr)
	require.ErrorContains(t, err, "bad audit.timestamp")
}

func TestCoercion(t *testing.T) {
	m := pcommon.NewMap()
	m.PutInt("int", 92)
	m.PutStr("str", " 103 ")
	m.PutStr("strfloat", "12.6")
	m.PutDouble("double", 41.5)
	m.PutStr("junk", "fast")
	m.PutBool("bool", true)
	m.PutDouble("nan", 0)
	m.PutEmptyMap("map").PutStr("x", "1")
	m.PutStr("true", "true")
	m.PutStr("inf", "Inf")

	assert.Equal(t, int64(92), *Int(m, "int"))
	assert.Equal(t, int64(103), *Int(m, "str"))
	assert.Equal(t, int64(13), *Int(m, "strfloat"))
	assert.Equal(t, int64(42), *Int(m, "double"))
	assert.Nil(t, Int(m, "junk"))
	assert.Nil(t, Int(m, "bool"))
	assert.Nil(t, Int(m, "map"))
	assert.Nil(t, Int(m, "absent"))
	assert.Nil(t, Int(m, "inf"))

	assert.InDelta(t, 41.5, *Float(m, "double"), 0)
	assert.InDelta(t, 92, *Float(m, "int"), 0)
	assert.InDelta(t, 12.6, *Float(m, "strfloat"), 1e-9)
	assert.Nil(t, Float(m, "junk"))
	assert.Nil(t, Float(m, "inf"))

	b, ok := Bool(m, "true")
	assert.True(t, ok && b)
	b, ok = Bool(m, "bool")
	assert.True(t, ok && b)
	_, ok = Bool(m, "junk")
	assert.False(t, ok)
}

func TestHandWrittenJSONMatchesEncodingJSON(t *testing.T) {
	for _, d := range []PolicyDetails{
		{Evaluated: []PolicyResult{}},
		{Evaluated: []PolicyResult{{ID: "a"}, {ID: "b", Matched: true, Verdict: VerdictBlocked, Severity: "high", Reason: "rm -rf \"/\" <x> & ü\n"}, {ID: "c", Error: true}},
			Matched: []string{"b"}, Reasons: []string{"rm -rf \"/\" <x> & ü\n"}, TopPolicy: "b"},
	} {
		if d.Matched == nil {
			d.Matched, d.Reasons = []string{}, []string{}
		}
		want, err := json.Marshal(d)
		require.NoError(t, err)
		assert.JSONEq(t, string(want), string(d.AppendJSON(nil)))
		assert.Equal(t, string(want), string(d.AppendJSON(nil)))
	}
	// Where encoding/json writes null for a nil list, the column always holds a list.
	assert.JSONEq(t, `{"evaluated":[],"matched":[],"reasons":[]}`, string(PolicyDetails{}.AppendJSON(nil)))
	for _, f := range []ComplianceFlags{{}, {PIIAccess: true, PCIRelevant: true}} {
		want, _ := json.Marshal(f)
		assert.Equal(t, string(want), f.jsonString())
		assert.Equal(t, string(want), f.jsonString(), "cached")
	}
	m := SecurityMetrics{RiskScore: 80, QueryComplexity: "medium"}
	want, _ := json.Marshal(m)
	assert.Equal(t, string(want), m.jsonString())
}
