package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap/confmaptest"
)

// StartAgent runs the shipped agent tier, config/agent.yaml, on free ports (through its GOVCOL_AGENT_* variables),
// forwarding to gatewayHTTP. The returned Collector's endpoints are the agent's: RunClaude sends there.
func StartAgent(t testing.TB, gatewayHTTP string) *Collector {
	t.Helper()
	grpcPort, httpPort, healthPort, telPort := FreePort(t), FreePort(t), FreePort(t), FreePort(t)
	a := &Collector{
		GRPCEndpoint: fmt.Sprintf("127.0.0.1:%d", grpcPort),
		HTTPEndpoint: fmt.Sprintf("http://127.0.0.1:%d", httpPort),
		MetricsURL:   fmt.Sprintf("http://127.0.0.1:%d/metrics", telPort),
		Dir:          t.TempDir(),
		stderr:       &lockedBuffer{},
	}
	env := []string{
		"GOVCOL_AGENT_GRPC_ENDPOINT=" + a.GRPCEndpoint,
		fmt.Sprintf("GOVCOL_AGENT_HTTP_ENDPOINT=127.0.0.1:%d", httpPort),
		fmt.Sprintf("GOVCOL_AGENT_HEALTH_ENDPOINT=127.0.0.1:%d", healthPort),
		fmt.Sprintf("GOVCOL_AGENT_TELEMETRY_PORT=%d", telPort),
		"GOVCOL_GATEWAY_ENDPOINT=" + gatewayHTTP,
	}
	launch(t, a, GovcolBinary(t), []string{"--config", filepath.Join(RepoRoot(t), "config", "agent.yaml")}, env, healthPort)
	return a
}

// developer is one Claude Code user in the agent-tier test: their own license (tenant) and identity headers.
type developer struct {
	org, tenant, client, email, session, license string
}

func (d developer) headers() string {
	return "Authorization=Bearer " + d.license + ",X-User-Email=" + d.email + ",X-Session-Id=" + d.session +
		",X-Axonflow-Client=claude-code"
}

// TestAgentTierKeepsEachDevelopersIdentity runs two real Claude Code processes with different licenses (two
// tenants) and developers at the same time through one agent (config/agent.yaml) in front of the gateway. Their
// requests share the agent's batch windows; every stored row must carry its own sender's tenant, developer and
// session, and nothing may be attributed to the other. Both protocols the agent receives are used, one per
// developer.
func TestAgentTierKeepsEachDevelopersIdentity(t *testing.T) {
	sink := NewSink(t)
	gw := StartCollector(t, sink)
	agent := StartAgent(t, gw.HTTPEndpoint)

	devs := []developer{
		{org: "org-a", tenant: "tenant-a", client: "client-a", email: "alice@a.example", session: "sess-alice"},
		{org: "org-b", tenant: "tenant-b", client: "client-b", email: "bob@b.example", session: "sess-bob"},
	}
	for i := range devs {
		devs[i].license = gw.Keys.License(t, devs[i].org, devs[i].tenant, devs[i].client, "")
	}
	protocols := []string{"http/protobuf", "grpc"}

	// Both CLIs run at once: the subtests are parallel, and the group returns when both have finished.
	t.Run("claude", func(t *testing.T) {
		for i, d := range devs {
			t.Run(d.tenant, func(t *testing.T) {
				t.Parallel()
				stub := NewAnthropicStub(t)
				out := RunClaude(t, agent, stub, ClaudeRun{Protocol: protocols[i], Headers: d.headers(), Prompt: "list files"})
				require.Contains(t, out, "Here are the files")
			})
		}
	})
	if t.Failed() {
		return
	}

	ctx := context.Background()
	db, err := pgx.Connect(ctx, gw.PostgresDSN)
	require.NoError(t, err)
	defer db.Close(ctx)
	count := func(sql string, args ...any) int {
		t.Helper()
		var n int
		require.NoError(t, db.QueryRow(ctx, sql, args...).Scan(&n), sql)
		return n
	}
	// Each developer's prompt, tool decision and API request reach the trail.
	require.Eventually(t, func() bool {
		for _, d := range devs {
			if count(`SELECT count(DISTINCT request_type) FROM audit_logs WHERE tenant_id = $1 AND request_type IN
				('claude_code_user_prompt', 'claude_code_tool_decision', 'claude_code_api_request')`, d.tenant) < 3 {
				return false
			}
		}
		return true
	}, 30*time.Second, 250*time.Millisecond, "both developers' events in audit_logs; agent log:\n%s", agent.Output())

	total := count("SELECT count(*) FROM audit_logs")
	perDev := 0
	for _, d := range devs {
		n := count(`SELECT count(*) FROM audit_logs WHERE tenant_id = $1 AND org_id = $2 AND client_id = $3
			AND user_email = $4 AND session_id = $5 AND identity_source = 'header' AND origin = 'claude-code'`,
			d.tenant, d.org, d.client, d.email, d.session)
		assert.Positive(t, n, "%s's rows", d.email)
		perDev += n
	}
	assert.Equal(t, total, perDev, "every row carries exactly one developer's own tenant, identity and session")
	for i, d := range devs {
		other := devs[1-i]
		assert.Zero(t, count(`SELECT count(*) FROM audit_logs WHERE tenant_id = $1 AND
			(user_email = $2 OR session_id = $3 OR org_id = $4 OR client_id = $5)`,
			d.tenant, other.email, other.session, other.org, other.client), "nothing of %s attributed to %s", other.email, d.tenant)
	}
	// The spans and metrics the gateway forwarded carry the same split.
	for _, name := range []string{"claude_code.interaction"} {
		require.Eventually(t, func() bool { return len(sink.SpanAttributes(name)) >= 2 }, 15*time.Second, 200*time.Millisecond)
		seen := map[string]bool{}
		for _, attrs := range sink.SpanAttributes(name) {
			pair := fmt.Sprint(attrs["tenant_id"], "/", attrs["user_email"])
			assert.Contains(t, []string{"tenant-a/alice@a.example", "tenant-b/bob@b.example"}, pair)
			seen[pair] = true
		}
		assert.Len(t, seen, 2, "both developers' %s spans", name)
	}
	for _, dp := range sink.MetricPoints("claude_code.token.usage") {
		pair := fmt.Sprint(dp["tenant_id"], "/", dp["user_email"])
		assert.Contains(t, []string{"tenant-a/alice@a.example", "tenant-b/bob@b.example"}, pair)
	}
	for _, d := range devs {
		assert.NotContains(t, agent.Output(), d.license, "the agent's log never contains a credential")
	}
	gw.VerifyTrail(t)
}

// The agent configuration is valid for the distribution that is built, with and without its variables set.
func TestAgentConfigValidates(t *testing.T) {
	cfg := filepath.Join(RepoRoot(t), "config", "agent.yaml")
	for _, env := range [][]string{nil, {"GOVCOL_GATEWAY_ENDPOINT=https://gateway.example:4318", "GOVCOL_AGENT_HTTP_ENDPOINT=127.0.0.1:24318"}} {
		cmd := exec.Command(GovcolBinary(t), "validate", "--config", cfg)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
	}
}

// Every listener of the agent (receivers, health check, own telemetry) is on loopback by default: the agent
// authenticates nothing, the gateway does.
func TestAgentConfigListensOnLoopback(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join(RepoRoot(t), "config", "agent.yaml"))
	require.NoError(t, err)
	var ls []listener
	listeners("", cm.ToStringMap(), &ls)
	var paths []string
	for _, l := range ls {
		l.path = strings.TrimPrefix(l.path, ".")
		if strings.HasPrefix(l.path, "exporters.") {
			continue // where it sends, not where it listens
		}
		paths = append(paths, l.path)
		assert.True(t, loopback(l.host), "%s listens on %q; the agent's listeners stay on loopback", l.path, l.host)
	}
	assert.ElementsMatch(t, []string{"receivers.otlp.protocols.grpc", "receivers.otlp.protocols.http",
		"extensions.health_check", "service.telemetry.metrics.readers[].pull.exporter.prometheus"}, paths)
}
