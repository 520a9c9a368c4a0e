package e2e

import (
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap/confmaptest"
)

// dataFree are endpoints that serve no data and may listen on every interface without authentication: the health
// check answers only whether the collector is up, for load balancers and orchestrator probes that come from outside
// the host.
var dataFree = map[string]string{
	"extensions.health_check": "liveness status only",
}

// envDefault resolves "${env:NAME:-default}" to its default (what the file means when the variable is unset); a
// reference without a default is returned as it is and cannot pass as loopback.
var envDefault = regexp.MustCompile(`^\$\{env:[A-Za-z_][A-Za-z0-9_]*:-([^}]*)\}$`)

// listener is one address a shipped configuration listens on.
type listener struct {
	path, host string
	// authenticated: the component requires a credential (auth.authenticator, or auditapi's authenticator) and
	// serves TLS.
	authenticated bool
}

func loopback(host string) bool {
	if m := envDefault.FindStringSubmatch(host); m != nil {
		host = m[1]
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// listeners walks a configuration and returns every `endpoint: host:port` and every `host:` next to a `port:` (the
// collector's own-telemetry Prometheus reader).
func listeners(path string, m map[string]any, out *[]listener) {
	secured := func(m map[string]any) bool {
		_, tls := m["tls"]
		auth, _ := m["auth"].(map[string]any)
		_, authenticator := m["authenticator"]
		return tls && (auth["authenticator"] != nil || authenticator)
	}
	if ep, ok := m["endpoint"].(string); ok {
		raw := ep
		if sub := envDefault.FindStringSubmatch(ep); sub != nil {
			raw = sub[1]
		}
		host, _, err := net.SplitHostPort(raw)
		if err != nil {
			host = raw // not host:port: judged as a host, so it can only pass as loopback
		}
		*out = append(*out, listener{path: path, host: host, authenticated: secured(m)})
	}
	if host, ok := m["host"].(string); ok {
		if _, hasPort := m["port"]; hasPort {
			*out = append(*out, listener{path: path, host: host, authenticated: secured(m)})
		}
	}
	for k, v := range m {
		switch v := v.(type) {
		case map[string]any:
			listeners(path+"."+k, v, out)
		case []any:
			for _, e := range v {
				if em, ok := e.(map[string]any); ok {
					listeners(path+"."+k+"[]", em, out)
				}
			}
		}
	}
}

// Issue 17, finding 6: no shipped configuration serves an endpoint without authentication on a non-loopback
// address. The Prometheus exporter (labels tenant_id and user_email of every tenant) and the collector's own
// telemetry in config/gateway.yaml listened on 0.0.0.0 without either.
func TestShippedConfigsBindUnauthenticatedEndpointsToLoopback(t *testing.T) {
	for _, name := range []string{"gateway.yaml", "local.yaml"} {
		t.Run(name, func(t *testing.T) {
			cm, err := confmaptest.LoadConf(filepath.Join(RepoRoot(t), "config", name))
			require.NoError(t, err)
			var ls []listener
			listeners("", cm.ToStringMap(), &ls)
			var paths []string
			for _, l := range ls {
				l.path = strings.TrimPrefix(l.path, ".")
				paths = append(paths, l.path)
				if _, ok := dataFree[l.path]; ok || loopback(l.host) {
					continue
				}
				assert.True(t, l.authenticated, "%s: %s listens on %q without authentication and TLS; bind it to 127.0.0.1", name, l.path, l.host)
			}
			// The walk found the endpoints this test is about.
			assert.Contains(t, paths, "exporters.prometheus")
			assert.Contains(t, paths, "service.telemetry.metrics.readers[].pull.exporter.prometheus")
			assert.Contains(t, paths, "receivers.otlp.protocols.grpc")
			assert.Contains(t, paths, "extensions.auditapi")
		})
	}
}
