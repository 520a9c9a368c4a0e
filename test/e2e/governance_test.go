package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
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
			checkStoredInPostgres(t, c, sink)
			checkDecisionFiles(t, c, sink)
			checkTrailVerifies(t, c, sink)
			require.Positive(t, c.Metric(t, "otelcol_governance_records_processed", `verdict="redacted"`, `origin="claude-code"`))
			require.Positive(t, c.Metric(t, "otelcol_governance_pii_detections", `pii_type="ssn"`))
			out := c.Output()
			assert.NotContains(t, out, "123-45-6789", "the collector's log never contains PII")
			assert.False(t, strings.Contains(out, lic))
		})
	}
}

// checkStoredInPostgres reads the audit trail back from Postgres with SQL: every record the sink saw is stored
// once, with the identity from the license and header, masked content and the verdicts.
func checkStoredInPostgres(t *testing.T, c *Collector, sink *Sink) {
	t.Helper()
	ctx := context.Background()
	db, err := pgx.Connect(ctx, c.PostgresDSN)
	require.NoError(t, err)
	defer db.Close(ctx)
	want := map[string]bool{}
	require.Eventually(t, func() bool {
		for _, r := range sink.Records(t) {
			want[r.ID] = true
		}
		var n int
		return db.QueryRow(ctx, "SELECT count(*) FROM audit_logs WHERE id = ANY($1)", keys(want)).Scan(&n) == nil && n == len(want)
	}, 30*time.Second, 200*time.Millisecond, "all %d sink records in audit_logs", len(want))

	count := func(sql string, args ...any) int {
		t.Helper()
		var n int
		require.NoError(t, db.QueryRow(ctx, sql, args...).Scan(&n), sql)
		return n
	}
	assert.Equal(t, len(want), count("SELECT count(DISTINCT id) FROM audit_logs"), "no duplicates, nothing foreign")
	assert.Zero(t, count(`SELECT count(*) FROM audit_logs WHERE tenant_id <> 'tenant-e2e' OR org_id <> 'org-e2e'
		OR client_id <> 'client-e2e' OR user_email <> 'dev@example.com' OR identity_source <> 'header'
		OR origin <> 'claude-code' OR plane <> 'claude_code' OR session_id <> 'sess-123'`), "identity from the license and headers")
	assert.Zero(t, count(`SELECT count(*) FROM audit_logs a WHERE a::text LIKE '%123-45-6789%'
		OR a::text LIKE '%4111 1111 1111 1111%' OR a::text LIKE '%4111111111111111%' OR a::text LIKE '%evil-tenant%'
		OR a::text LIKE '%evil-org%'`), "no PII and no spoofed identity anywhere in a row")
	assert.Equal(t, 1, count(`SELECT count(*) FROM audit_logs WHERE request_type = 'claude_code_user_prompt'
		AND policy_decision = 'redacted' AND query LIKE '%[REDACTED:ssn]%' AND query LIKE '%[REDACTED:credit_card]%'
		AND obligations = '["redact_pii"]'::jsonb AND pii_types @> '{ssn,credit_card}'
		AND policy_details->'matched' ? 'sys_pii_redaction' AND query_hash IS NOT NULL`))
	assert.Positive(t, count(`SELECT count(*) FROM audit_logs WHERE request_type = 'claude_code_tool_decision'
		AND tool_name = 'Bash' AND policy_decision = 'allowed' AND metadata->>'decision' = 'accept'`))
	assert.Positive(t, count(`SELECT count(*) FROM audit_logs WHERE request_type = 'claude_code_api_request'
		AND model IS NOT NULL AND input_tokens IS NOT NULL AND output_tokens IS NOT NULL
		AND tokens_used = input_tokens + output_tokens AND cost IS NOT NULL AND request_id IS NOT NULL`))
	assert.Zero(t, count(`SELECT count(*) FROM audit_logs WHERE request_type = 'claude_code_user_prompt' AND input_tokens IS NOT NULL`),
		"usage not measured stays NULL")
	_, err = db.Exec(ctx, "UPDATE audit_logs SET policy_decision = 'allowed'")
	require.Error(t, err, "audit_logs is append-only")
	require.Positive(t, c.Metric(t, "otelcol_postgresaudit_rows_written"))
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// checkDecisionFiles finds every record's decision object at decisions/axonflow/decisions/YYYY/MM/DD/<id>.json.
func checkDecisionFiles(t *testing.T, c *Collector, sink *Sink) {
	t.Helper()
	for _, r := range sink.Records(t) {
		path := filepath.Join(c.Dir, "decisions", "axonflow", "decisions", r.Timestamp.UTC().Format("2006/01/02"), r.DecisionID+".json")
		var b []byte
		require.Eventually(t, func() bool {
			var err error
			b, err = os.ReadFile(path)
			return err == nil
		}, 10*time.Second, 100*time.Millisecond, "decision file %s", path)
		var d map[string]any
		require.NoError(t, json.Unmarshal(b, &d))
		assert.Equal(t, "tenant-e2e", d["tenant_id"])
		assert.Equal(t, string(r.PolicyDecision), d["verdict"])
		assert.NotContains(t, string(b), "123-45-6789")
	}
	require.Positive(t, c.Metric(t, "otelcol_s3decision_objects", `outcome="shipped"`))
}

// checkTrailVerifies runs the real `govctl verify` on the collector's database: the records are hash-chained and,
// within the checkpoint interval, covered by a signed checkpoint.
func checkTrailVerifies(t *testing.T, c *Collector, sink *Sink) {
	t.Helper()
	out := c.VerifyTrail(t)
	assert.Contains(t, out, "(tenant tenant-e2e)")
	assert.Contains(t, out, ": OK")
	for _, r := range sink.Records(t) {
		assert.True(t, strings.HasPrefix(r.RecordHash, "v1:"), "record_hash on %s", r.ID)
		assert.Positive(t, r.ChainSeq)
	}
	var cps int
	db, err := pgx.Connect(context.Background(), c.PostgresDSN)
	require.NoError(t, err)
	defer db.Close(context.Background())
	require.NoError(t, db.QueryRow(context.Background(), "SELECT count(*) FROM audit_checkpoints WHERE tenant_id = 'tenant-e2e'").Scan(&cps))
	assert.Positive(t, cps)
	checkpoints, err := filepath.Glob(filepath.Join(c.Dir, "decisions", "axonflow", "decisions", "checkpoints", "*", "*.json"))
	require.NoError(t, err)
	assert.NotEmpty(t, checkpoints, "checkpoints shipped beside the decisions")
}
