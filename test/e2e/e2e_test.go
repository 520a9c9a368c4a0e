package e2e

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const fixturePrompt = "My SSN is 123-45-6789 and my card is 4111 1111 1111 1111; list files"

func headers(auth string) string {
	return "Authorization=" + auth + ",X-User-Email=dev@example.com,X-Session-Id=sess-123,X-Axonflow-Client=claude-code"
}

// TestClaudeCodeAccepted runs the real Claude Code CLI against the built collector over both OTLP protocols and
// checks that its logs, metrics and traces pass license authentication and come out of the pipeline.
func TestClaudeCodeAccepted(t *testing.T) {
	for _, protocol := range []string{"http/json", "grpc"} {
		t.Run(protocol, func(t *testing.T) {
			sink := NewSink(t)
			c := StartCollector(t, sink)
			stub := NewAnthropicStub(t)
			lic := c.Keys.License(t, "org-e2e", "tenant-e2e", "client-e2e", "")

			out := RunClaude(t, c, stub, ClaudeRun{Protocol: protocol, Headers: headers("Bearer " + lic), Prompt: fixturePrompt})
			require.Contains(t, out, "Here are the files", "Claude Code printed the stub's final answer")

			require.Eventually(t, func() bool {
				names := sink.LogEventNames()
				return contains(names, "user_prompt") && contains(names, "tool_result") && contains(names, "api_request") &&
					contains(sink.MetricNames(), "claude_code.token.usage") && contains(sink.SpanNames(), "claude_code.interaction")
			}, 30*time.Second, 200*time.Millisecond, "logs %v\nmetrics %v\nspans %v\nstub %v",
				sink.LogEventNames(), sink.MetricNames(), sink.SpanNames(), stub.Requests())
			require.Contains(t, sink.LogEventNames(), "tool_decision")
			require.Positive(t, c.Metric(t, "otelcol_licenseauth_successes"))
			require.Zero(t, c.Metric(t, "otelcol_licenseauth_failures"))
			require.NotContains(t, c.Output(), lic, "the collector's log must never contain a credential")
		})
	}
}

// TestClaudeCodeRefusedWithInvalidLicense runs the CLI with a license signed by an unknown key and with garbage:
// nothing reaches the pipeline and the refusals are counted.
func TestClaudeCodeRefusedWithInvalidLicense(t *testing.T) {
	for _, protocol := range []string{"http/json", "grpc"} {
		t.Run(protocol, func(t *testing.T) {
			sink := NewSink(t)
			c := StartCollector(t, sink)
			stub := NewAnthropicStub(t)
			foreign := NewKeys(t, t.TempDir()).License(t, "org-e2e", "tenant-e2e", "client-e2e", "")

			RunClaude(t, c, stub, ClaudeRun{Protocol: protocol, Headers: headers("Bearer " + foreign), Prompt: fixturePrompt})
			require.Eventually(t, func() bool {
				return c.Metric(t, "otelcol_licenseauth_failures", `reason="unknown_kid"`) >= 2
			}, 30*time.Second, 200*time.Millisecond, "refusals by reason were not counted")

			RunClaude(t, c, stub, ClaudeRun{Protocol: protocol, Headers: headers("Bearer not-a-license"), Prompt: "list files"})
			require.Eventually(t, func() bool {
				return c.Metric(t, "otelcol_licenseauth_failures", `reason="malformed"`) >= 2
			}, 30*time.Second, 200*time.Millisecond)

			// Give any late export a moment; nothing may have passed.
			time.Sleep(time.Second)
			require.Zero(t, sink.Total(), "refused telemetry reached the pipeline")
			require.Zero(t, c.Metric(t, "otelcol_licenseauth_successes"))
			require.NotContains(t, c.Output(), foreign, "the collector's log must never contain a credential")
		})
	}
}

// TestFixturePostedOverHTTP posts the captured Claude Code logs directly: accepted with a license, refused (401)
// without, and the refusal response never echoes anything.
func TestFixturePostedOverHTTP(t *testing.T) {
	sink := NewSink(t)
	c := StartCollector(t, sink)
	body, err := os.ReadFile(filepath.Join(RepoRoot(t), "testdata", "claude-code-2.1.330", "logs.json"))
	require.NoError(t, err)
	post := func(auth string) int {
		req, err := http.NewRequest(http.MethodPost, c.HTTPEndpoint+"/v1/logs", bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusUnauthorized, post(""))
	require.Zero(t, sink.Total())
	require.Equal(t, http.StatusOK, post("Bearer "+c.Keys.License(t, "o", "t", "c", "dev@example.com")))
	require.Eventually(t, func() bool { return contains(sink.LogEventNames(), "user_prompt") }, 10*time.Second, 100*time.Millisecond)
	require.Equal(t, float64(1), c.Metric(t, "otelcol_licenseauth_failures", `reason="missing"`))
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// The shipped configurations (config/local.yaml, config/gateway.yaml) are valid for the distribution that is built.
func TestShippedConfigsValidate(t *testing.T) {
	dir := t.TempDir()
	keys := NewKeys(t, dir)
	pem, err := os.ReadFile(keys.PEMPath)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "license-signing.pub.pem"), pem, 0o600))
	NewAuditKey(t, dir) // audit-signing.key, as `govctl dev init` mints it
	cmd := exec.Command(GovcolBinary(t), "validate", "--config", filepath.Join(RepoRoot(t), "config", "local.yaml"))
	cmd.Env = append(os.Environ(), "GOVCOL_DIR="+dir, "GOVCOL_PG_DSN=postgres://govcol@127.0.0.1:5432/audit")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)

	seed := make([]byte, 32)
	cmd = exec.Command(GovcolBinary(t), "validate", "--config", filepath.Join(RepoRoot(t), "config", "gateway.yaml"))
	cmd.Env = append(os.Environ(), "GOVCOL_LICENSE_PUBKEYS="+keys.PEMPath, "GOVCOL_PG_DSN=postgres://govcol@127.0.0.1:5432/audit",
		"GOVCOL_QUERY_HASH_KEY=0123456789abcdef0123", "GOVCOL_AUDIT_SIGNING_KEY="+base64.StdEncoding.EncodeToString(seed),
		"GOVCOL_S3_BUCKET=audit", "GOVCOL_TLS_CERT=/etc/govcol/tls.crt", "GOVCOL_TLS_KEY=/etc/govcol/tls.key", "GOVCOL_STATE_DIR="+dir,
		"GOVCOL_AUDIT_PUBKEYS="+filepath.Join(dir, "audit-signing.pub.pem"))
	out, err = cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
}
