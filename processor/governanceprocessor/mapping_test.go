package governanceprocessor

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/govcol/govcol/internal/audit"
)

func TestIDsDeterministicAndUUIDv7(t *testing.T) {
	ts := time.Date(2026, 11, 22, 8, 46, 14, 732000000, time.UTC)
	id1, d1 := deriveIDs("t", ts, "a", "b")
	id2, d2 := deriveIDs("t", ts, "a", "b")
	assert.Equal(t, id1, id2)
	assert.Equal(t, d1, d2)
	assert.Len(t, id1, 36)
	pair := func(a, b string) [2]string { return [2]string{a, b} }
	for _, other := range [][2]string{
		pair(deriveIDs("u", ts, "a", "b")), pair(deriveIDs("t", ts.Add(time.Nanosecond), "a", "b")), pair(deriveIDs("t", ts, "ab")), pair(deriveIDs("t", ts, "a", "c")),
	} {
		assert.NotEqual(t, id1, other[0])
		assert.NotEqual(t, d1, other[1])
	}
	u, err := uuid.Parse(d1)
	require.NoError(t, err)
	assert.Equal(t, uuid.Version(7), u.Version())
	assert.Equal(t, uuid.RFC4122, u.Variant())
	sec, nsec := u.Time().UnixTime()
	assert.Equal(t, ts.UnixMilli(), sec*1000+nsec/1e6, "decision_id carries the event time in milliseconds")
}

func TestMapUsage(t *testing.T) {
	m := pcommon.NewMap()
	m.PutStr("request_id", "req_01")
	m.PutStr("prompt.id", "p1")
	m.PutStr("model", "claude-opus-5-5")
	m.PutInt("input_tokens", 1200)
	m.PutStr("output_tokens", "25")
	m.PutDouble("cost_usd", 0.00561)
	m.PutStr("duration_ms", "not a number")
	r := audit.Record{Plane: audit.PlaneClaudeCode}
	mapUsage(audit.EventAPIRequest, m, &r, nil)
	assert.Equal(t, "req_01", r.RequestID)
	assert.Equal(t, "p1", r.CorrelationID)
	assert.Equal(t, "anthropic", r.Provider)
	assert.Equal(t, int64(1225), *r.TokensUsed)
	assert.InDelta(t, 0.00561, *r.Cost, 0)
	assert.Nil(t, r.ResponseTimeMS, "an unparseable duration is NULL, not 0")

	// No usage attributes: every usage column stays NULL.
	r = audit.Record{Plane: audit.PlaneSDK}
	mapUsage("custom", pcommon.NewMap(), &r, nil)
	assert.Nil(t, r.TokensUsed)
	assert.Nil(t, r.Cost)
	assert.Empty(t, r.Provider)

	// cost_usd_micros when cost_usd is absent.
	m = pcommon.NewMap()
	m.PutInt("cost_usd_micros", 5610)
	mapUsage(audit.EventAPIRequest, m, &r, nil)
	assert.InDelta(t, 0.00561, *r.Cost, 1e-12)
}

func TestContentKeysPerEvent(t *testing.T) {
	m := pcommon.NewMap()
	m.PutStr("tool_parameters", `{"full_command":"ls"}`)
	m.PutStr("tool_input", `{"command":"ls"}`)
	m.PutStr("prompt_text", "hi")
	m.PutStr("error", "overloaded")
	assert.Equal(t, "tool_parameters", queryAttr(audit.EventToolDecision, m))
	assert.Equal(t, "tool_input", queryAttr(audit.EventToolResult, m))
	assert.Equal(t, "prompt_text", queryAttr(audit.EventUserPrompt, m))
	assert.Equal(t, "", queryAttr(audit.EventAPIRequest, m))
	assert.Equal(t, "error", responseAttr(audit.EventAPIError, m))
	assert.Equal(t, "", responseAttr(audit.EventToolResult, m))
	assert.Equal(t, "", queryAttr("hook_started", m), "generic events read prompt/query/input only")
}

func TestFlagsAndMetrics(t *testing.T) {
	assert.Equal(t, audit.ComplianceFlags{}, complianceFlags(nil))
	assert.Equal(t, audit.ComplianceFlags{PIIAccess: true, GDPRApplicable: true}, complianceFlags([]string{"upi_vpa", "npwp"}), "personal financial identifiers")
	assert.Equal(t, audit.ComplianceFlags{PIIAccess: true, SecretExposure: true}, complianceFlags([]string{"auth_header", "payment_key"}), "credentials")
	f := complianceFlags([]string{"ssn", "credit_card", "aws_access_key"})
	assert.True(t, f.PIIAccess && f.HIPAARelevant && f.PCIRelevant && f.SecretExposure && f.GDPRApplicable)
	assert.Equal(t, audit.SecurityMetrics{RiskScore: 0, QueryComplexity: "low"}, securityMetrics(audit.VerdictAllowed, "", 10))
	assert.Equal(t, audit.SecurityMetrics{RiskScore: 95, QueryComplexity: "high"}, securityMetrics(audit.VerdictBlocked, "critical", 5000))
	assert.Equal(t, 70, securityMetrics(audit.VerdictBlocked, "low", 300).RiskScore)
}
