package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govcol/govcol/internal/audit"
)

// TestGovernedClaudeCode runs the real Claude Code CLI through the governance processor and checks the records as
// they leave it: masking, tenancy from the license (even though the payload's resource claims another tenant and
// developer), the developer from X-User-Email, the origin, and the event mapping to the canonical columns.
func TestGovernedClaudeCode(t *testing.T) {
	for _, protocol := range []string{"http/json", "grpc"} {
		t.Run(protocol, func(t *testing.T) {
			sink := NewSink(t)
			c := StartCollector(t, sink)
			stub := NewAnthropicStub(t)
			lic := c.Keys.License(t, "org-e2e", "tenant-e2e", "client-e2e", "")

			RunClaude(t, c, stub, ClaudeRun{
				Protocol: protocol, Headers: headers("Bearer " + lic), Prompt: fixturePrompt,
				ResourceAttributes: "tenant_id=evil-tenant,org_id=evil-org,user.email=mallory@evil.example,audit.tenant_id=evil-tenant",
			})
			byEvent := map[string]audit.Record{}
			require.Eventually(t, func() bool {
				for _, r := range sink.Records(t) {
					byEvent[r.Metadata["event_name"].(string)] = r
				}
				_, a := byEvent["user_prompt"]
				_, b := byEvent["tool_decision"]
				_, c := byEvent["tool_result"]
				_, d := byEvent["api_request"]
				return a && b && c && d && len(sink.SpanAttributes("claude_code.interaction")) > 0 &&
					len(sink.MetricPoints("claude_code.token.usage")) > 0
			}, 30*time.Second, 200*time.Millisecond, "events %v spans %v", sink.LogEventNames(), sink.SpanNames())

			recs := sink.Records(t)
			for _, r := range recs {
				assert.Equal(t, "tenant-e2e", r.TenantID, "tenant from the license, not OTEL_RESOURCE_ATTRIBUTES")
				assert.Equal(t, "org-e2e", r.OrgID)
				assert.Equal(t, "client-e2e", r.ClientID)
				assert.Equal(t, "dev@example.com", r.UserEmail, "developer from X-User-Email, not the payload")
				assert.Equal(t, audit.IdentityHeader, r.IdentitySource)
				assert.Equal(t, audit.OriginClaudeCode, r.Origin)
				assert.Equal(t, audit.PlaneClaudeCode, r.Plane)
				assert.Equal(t, "sess-123", r.SessionID)
				assert.Equal(t, "mallory@evil.example", r.Metadata["claimed_user_email"])
				res, _ := r.Metadata["resource"].(map[string]any)
				assert.Equal(t, "claude-code", res["service.name"])
				assert.NotContains(t, res, "tenant_id")
				assert.NotContains(t, res, "org_id")
				assert.NotContains(t, res, "audit.tenant_id")
				raw, err := json.Marshal(r)
				require.NoError(t, err)
				assert.NotContains(t, string(raw), "123-45-6789")
				assert.NotContains(t, string(raw), "4111 1111 1111 1111")
				assert.NotContains(t, string(raw), "evil-tenant")
			}

			up := byEvent["user_prompt"]
			assert.Equal(t, "claude_code_user_prompt", up.RequestType)
			assert.Contains(t, up.Query, "[REDACTED:ssn]")
			assert.Contains(t, up.Query, "[REDACTED:credit_card]")
			assert.Equal(t, audit.VerdictRedacted, up.PolicyDecision)
			assert.Equal(t, []string{audit.ObligationRedactPII}, up.Obligations)
			assert.Subset(t, up.PIITypes, []string{"ssn", "credit_card"})
			assert.NotEmpty(t, up.QueryHash)

			td := byEvent["tool_decision"]
			assert.Equal(t, "claude_code_tool_decision", td.RequestType)
			assert.Equal(t, "Bash", td.ToolName)
			assert.Equal(t, "accept", td.Metadata["decision"])
			assert.Contains(t, td.Query, "ls -la")
			assert.Equal(t, audit.VerdictAllowed, td.PolicyDecision)

			tr := byEvent["tool_result"]
			assert.Equal(t, "Bash", tr.ToolName)
			require.NotNil(t, tr.ResponseTimeMS)
			assert.Contains(t, tr.Query, "ls -la")
			assert.Equal(t, "true", tr.Metadata["success"])

			ar := byEvent["api_request"]
			assert.Equal(t, "claude_code_api_request", ar.RequestType)
			assert.NotEmpty(t, ar.Model)
			require.NotNil(t, ar.InputTokens)
			require.NotNil(t, ar.OutputTokens)
			require.NotNil(t, ar.TokensUsed)
			assert.Equal(t, *ar.InputTokens+*ar.OutputTokens, *ar.TokensUsed)
			require.NotNil(t, ar.Cost)
			require.NotNil(t, ar.ResponseTimeMS)
			assert.NotEmpty(t, ar.RequestID)

			for _, span := range sink.SpanAttributes("claude_code.interaction") {
				assert.Equal(t, "tenant-e2e", span["tenant_id"])
				assert.Equal(t, "dev@example.com", span["user_email"])
				assert.Equal(t, "claude-code", span["origin"])
				assert.NotContains(t, span["user_prompt"], "123-45-6789")
				assert.Contains(t, span["user_prompt"], "[REDACTED:ssn]")
			}
			for _, dp := range sink.MetricPoints("claude_code.token.usage") {
				assert.Equal(t, "tenant-e2e", dp["tenant_id"])
				assert.Equal(t, "dev@example.com", dp["user_email"])
				assert.Equal(t, "claude-code", dp["origin"])
				assert.NotContains(t, dp, "session.id")
				assert.NotContains(t, dp["resource"], "tenant_id")
			}
			require.Positive(t, c.Metric(t, "otelcol_governance_records_processed", `verdict="redacted"`, `origin="claude-code"`))
			require.Positive(t, c.Metric(t, "otelcol_governance_pii_detections", `pii_type="ssn"`))
			out := c.Output()
			assert.NotContains(t, out, "123-45-6789", "the collector's log never contains PII")
			assert.False(t, strings.Contains(out, lic))
		})
	}
}
