package audit

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The canonical encoding v1 is frozen: stored trails are verified against it. These hashes were computed by the
// encoder as first released; any change to them is a change of the encoding, not an optimization.
func TestCanonicalEncodingV1Golden(t *testing.T) {
	const goldenFull = "v1:9458920c6e7135971ec7656f7d9e85f22ed77503ed27bb9c097aae3a8e57f02d"
	ts := time.Date(2026, 11, 22, 8, 46, 14, 504123999, time.FixedZone("x", 3600))
	full := Record{
		ID: "aud_0123456789abcdef0123456789abcdef", DecisionID: "01A2026F-3DE8-77F2-817F-3E5BBAFC48D6",
		Timestamp: ts, ReceivedAt: ts.Add(time.Second), RequestID: "req_1", CorrelationID: "corr", TraceID: "0102",
		SpanID: "0a0b", RequestType: "claude_code_user_prompt", Plane: "claude_code", Origin: "claude-code",
		OrgID: "org", TenantID: "tenant-a", ClientID: "client", UserEmail: "ünï@example.com", IdentitySource: "header",
		UserID: "u", SessionID: "s", PolicyDecision: VerdictRedacted,
		PolicyDetails: PolicyDetails{Evaluated: []PolicyResult{{ID: "p1", Matched: true, Verdict: VerdictRedacted,
			Severity: "low", Reason: "masked <pii> & more"}, {ID: "p2", Error: true}}, Matched: []string{"p1"},
			Reasons: []string{"masked <pii> & more"}, TopPolicy: "p1"},
		Obligations: []string{ObligationRedactPII}, PIITypes: []string{"email", "ssn"}, RedactedFields: []string{"prompt"},
		Query: "My SSN is [REDACTED:ssn] \u2028 😀", ResponseSample: "ok", QueryHash: "h", Provider: "anthropic",
		Model: "m", ToolName: "Bash", ResponseTimeMS: ptr(int64(92)), InputTokens: ptr(int64(1200)),
		OutputTokens: ptr(int64(25)), TokensUsed: ptr(int64(1225)), Cost: ptr(0.0056099999999999995),
		ComplianceFlags: ComplianceFlags{PIIAccess: true, GDPRApplicable: true, HIPAARelevant: true}, SecurityMetrics: SecurityMetrics{RiskScore: 25, QueryComplexity: "low"},
		Metadata: map[string]any{"b": 1.5, "a": []any{int64(1), "x", nil, true, map[string]any{"z": 1e21, "y": 1e-7}},
			"ключ": "значение", "nan": "NaN", "big": int64(math.MaxInt64), "f": 0.3, "html": "<&>"},
		ChainID: "inst/tenant-a/20260101T000000.000000Z-abcdef", ChainSeq: 42, PrevHash: "v1:00",
	}
	minimal := Record{ID: "aud_x", DecisionID: "d", Timestamp: time.Unix(0, 0), TenantID: "t", PolicyDecision: VerdictAllowed}
	for _, c := range []struct {
		name string
		r    Record
		want string
	}{
		{"full", full, goldenFull},
		{"minimal", minimal, "v1:0e24210b26cc88b8e8414109aa50ed158fb67e6dd8b3fe108b6066460c749cc4"},
	} {
		got, err := c.r.ComputeHash()
		require.NoError(t, err)
		assert.Equal(t, c.want, got, c.name)
	}
	// The JSON columns as jsonb returns them (spacing, key order, normalised numbers).
	b, err := full.CanonicalWithJSON(StoredJSON{
		PolicyDetails:   []byte(`{"matched": ["p1"], "reasons": ["masked <pii> & more"], "evaluated": [{"id": "p1", "reason": "masked <pii> & more", "matched": true, "verdict": "redacted", "severity": "low"}, {"id": "p2", "error": true, "matched": false}], "top_policy": "p1"}`),
		Obligations:     []byte(`["redact_pii"]`),
		ComplianceFlags: []byte(`{"pci_relevant": false, "pii_access": true, "hipaa_relevant": true, "gdpr_applicable": true, "secret_exposure": false}`),
		SecurityMetrics: []byte(`{"risk_score": 25, "query_complexity": "low"}`),
		Metadata:        []byte(`{"a": [1, "x", null, true, {"y": 0.0000001, "z": 1000000000000000000000}], "b": 1.5, "f": 0.3, "big": 9223372036854775807, "nan": "NaN", "html": "<&>", "ключ": "значение"}`),
	})
	require.NoError(t, err)
	assert.Equal(t, goldenFull, HashOf(b), "full, as stored")
}
