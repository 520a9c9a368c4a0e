package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDistributionComponents reads `govcol components`: the components operators expect are compiled in, and every
// collector module is at one release (one core v0.x, one core v1.x, one contrib version), whatever that release is.
func TestDistributionComponents(t *testing.T) {
	out, err := exec.Command(GovcolBinary(t), "components").CombinedOutput()
	require.NoError(t, err, "%s", out)

	names := map[string][]string{}
	versions := map[string]map[string]bool{}
	moduleLine := regexp.MustCompile(`^\s*module:\s+(\S+)\s+(\S+)\s*$`)
	section := ""
	for _, line := range strings.Split(string(out), "\n") {
		if line != "" && line[0] != ' ' && strings.HasSuffix(line, ":") {
			section = strings.TrimSuffix(line, ":")
			continue
		}
		if name, ok := strings.CutPrefix(strings.TrimSpace(line), "- name: "); ok {
			names[section] = append(names[section], name)
		}
		if m := moduleLine.FindStringSubmatch(line); m != nil {
			family := ""
			switch {
			case strings.HasPrefix(m[1], "github.com/open-telemetry/opentelemetry-collector-contrib/"):
				family = "contrib"
			case strings.HasPrefix(m[1], "go.opentelemetry.io/collector/") && strings.HasPrefix(m[2], "v0."):
				family = "core beta"
			case strings.HasPrefix(m[1], "go.opentelemetry.io/collector/"):
				family = "core stable"
			default:
				continue
			}
			if versions[family] == nil {
				versions[family] = map[string]bool{}
			}
			versions[family][m[2]] = true
		}
	}
	want := map[string][]string{
		"receivers":  {"otlp", "kafka"},
		"processors": {"batch", "memory_limiter", "governance", "filter", "transform", "attributes", "resource", "delta_to_cumulative"},
		"exporters":  {"otlp_http", "otlp_grpc", "kafka", "load_balancing", "prometheus", "postgresaudit", "s3decision", "debug"},
		"connectors": {"count", "span_metrics"},
		"extensions": {"headers_setter", "licenseauth", "auditapi", "health_check", "file_storage", "pprof", "zpages"},
	}
	for kind, ws := range want {
		for _, w := range ws {
			assert.Contains(t, names[kind], w, "%s %s", kind, w)
		}
	}
	for _, family := range []string{"contrib", "core beta", "core stable"} {
		assert.Len(t, versions[family], 1, "%s modules at one release: %v", family, versions[family])
	}
}

// TestOperatorComponentsPipeline runs the upstream processors operators reach for first and the loadbalancing
// exporter in a real pipeline: govcol A (otlp -> filter -> transform -> attributes -> resource -> loadbalancing) in
// front of govcol B (otlp gRPC -> otlp_http to the sink). Also validates a configuration with the kafka receiver and
// headers_setter, which need a broker or a second tier to run.
func TestOperatorComponentsPipeline(t *testing.T) {
	sink := NewSink(t)
	bin := GovcolBinary(t)
	dir := t.TempDir()

	bGRPC, bHealth, bTel := FreePort(t), FreePort(t), FreePort(t)
	bCfg := fmt.Sprintf(`
extensions:
  health_check: {endpoint: 127.0.0.1:%d}
receivers:
  otlp:
    protocols:
      grpc: {endpoint: 127.0.0.1:%d}
exporters:
  otlp_http: {endpoint: %s, compression: none, sending_queue: {enabled: false}, retry_on_failure: {enabled: false}}
service:
  extensions: [health_check]
%s  pipelines:
    traces: {receivers: [otlp], exporters: [otlp_http]}
`, bHealth, bGRPC, sink.URL, TelemetryConfig(bTel))
	aHTTP, aHealth, aTel := FreePort(t), FreePort(t), FreePort(t)
	aCfg := fmt.Sprintf(`
extensions:
  health_check: {endpoint: 127.0.0.1:%d}
receivers:
  otlp:
    protocols:
      http: {endpoint: 127.0.0.1:%d}
processors:
  filter:
    error_mode: ignore
    traces:
      span: ['name == "drop-me"']
  transform:
    error_mode: ignore
    trace_statements:
      - context: span
        statements: ['set(span.attributes["transformed"], "yes")']
  attributes:
    actions: [{key: site, value: lab, action: insert}, {key: secret, action: delete}]
  resource:
    attributes: [{key: deployment.environment, value: test, action: upsert}]
exporters:
  load_balancing:
    routing_key: traceID
    protocol:
      otlp: {tls: {insecure: true}, timeout: 2s}
    resolver:
      static: {hostnames: ["127.0.0.1:%d"]}
service:
  extensions: [health_check]
%s  pipelines:
    traces: {receivers: [otlp], processors: [filter, transform, attributes, resource], exporters: [load_balancing]}
`, aHealth, aHTTP, bGRPC, TelemetryConfig(aTel))

	start := func(name, cfg string, health int) *Collector {
		path := filepath.Join(dir, name+".yaml")
		require.NoError(t, os.WriteFile(path, []byte(cfg), 0o600))
		c := &Collector{Dir: dir, stderr: &lockedBuffer{}}
		launch(t, c, bin, []string{"--config", path}, nil, health)
		return c
	}
	start("b", bCfg, bHealth)
	a := start("a", aCfg, aHealth)

	body := `{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]},
	  "scopeSpans":[{"spans":[
	    {"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","name":"keep-me",
	     "startTimeUnixNano":"1","endTimeUnixNano":"2","attributes":[{"key":"secret","value":{"stringValue":"s3cr3t"}}]},
	    {"traceId":"1102030405060708090a0b0c0d0e0f10","spanId":"1102030405060708","name":"drop-me",
	     "startTimeUnixNano":"1","endTimeUnixNano":"2"}]}]}]}`
	resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/v1/traces", aHTTP), "application/json", bytes.NewBufferString(body))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	require.Eventually(t, func() bool { return len(sink.SpanAttributes("keep-me")) == 1 }, 20*time.Second,
		100*time.Millisecond, "span through A and B; A's log:\n%s", a.Output())
	attrs := sink.SpanAttributes("keep-me")[0]
	assert.Equal(t, "yes", attrs["transformed"], "transform")
	assert.Equal(t, "lab", attrs["site"], "attributes insert")
	assert.NotContains(t, attrs, "secret", "attributes delete")
	assert.NotContains(t, sink.SpanNames(), "drop-me", "filter")
	sink.mu.Lock()
	env, _ := sink.traces[0].ResourceSpans().At(0).Resource().Attributes().Get("deployment.environment")
	sink.mu.Unlock()
	assert.Equal(t, "test", env.AsString(), "resource")

	// kafka receiver and headers_setter: configuration accepted by the built distribution.
	vCfg := filepath.Join(dir, "validate.yaml")
	require.NoError(t, os.WriteFile(vCfg, []byte(`
extensions:
  headers_setter:
    headers: [{key: Authorization, from_context: authorization}]
receivers:
  kafka:
    brokers: ["127.0.0.1:9092"]
    logs: {topics: [govcol-logs]}
exporters:
  otlp_http: {endpoint: "http://127.0.0.1:4318", auth: {authenticator: headers_setter}}
service:
  extensions: [headers_setter]
  pipelines:
    logs: {receivers: [kafka], exporters: [otlp_http]}
`), 0o600))
	out, err := exec.Command(bin, "validate", "--config", vCfg).CombinedOutput()
	require.NoError(t, err, "%s", out)
}
