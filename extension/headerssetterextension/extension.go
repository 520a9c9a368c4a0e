package headerssetterextension // import "github.com/govcol/govcol/extension/headerssetterextension"

import (
	"context"
	"net/http"
	"strings"

	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/extensionauth"
	"google.golang.org/grpc/credentials"
)

// header is one resolved HeaderConfig entry.
type header struct {
	key          string
	action       Action
	fixed        string
	hasFixed     bool
	fromContext  string
	defaultValue string
	hasDefault   bool
}

// headersSetter is the extension: a client authenticator for both HTTP and gRPC exporters.
type headersSetter struct {
	component.StartFunc
	component.ShutdownFunc
	headers       []header
	maxValueBytes int
}

var (
	_ extensionauth.HTTPClient = (*headersSetter)(nil)
	_ extensionauth.GRPCClient = (*headersSetter)(nil)
)

func newHeadersSetter(cfg *Config) *headersSetter {
	hs := &headersSetter{maxValueBytes: cfg.MaxValueBytes}
	for _, h := range cfg.Headers {
		e := header{key: *h.Key, action: h.Action}
		if e.action == "" {
			e.action = Upsert
		}
		if h.Value != nil {
			e.fixed, e.hasFixed = string(*h.Value), true
		}
		if h.FromContext != nil {
			e.fromContext = *h.FromContext
		}
		if h.DefaultValue != nil {
			e.defaultValue, e.hasDefault = string(*h.DefaultValue), true
		}
		hs.headers = append(hs.headers, e)
	}
	return hs
}

// value returns the header's value for the request whose context is ctx, and whether there is one.
func (hs *headersSetter) value(ctx context.Context, h header) (string, bool) {
	if h.hasFixed {
		return h.fixed, true
	}
	if vs := client.FromContext(ctx).Metadata.Get(h.fromContext); len(vs) > 0 && hs.acceptable(vs[0]) {
		return vs[0], true
	}
	if h.hasDefault {
		return h.defaultValue, true
	}
	return "", false
}

// acceptable refuses an empty or oversized value and one with a control character (a CR or LF would split the
// header): such a value is not forwarded, whatever the incoming request said.
func (hs *headersSetter) acceptable(v string) bool {
	if v == "" || len(v) > hs.maxValueBytes {
		return false
	}
	return !strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f })
}

// RoundTripper sets the headers on every HTTP request (otlp_http exporter).
func (hs *headersSetter) RoundTripper(base http.RoundTripper) (http.RoundTripper, error) {
	return roundTripper{hs: hs, base: base}, nil
}

type roundTripper struct {
	hs   *headersSetter
	base http.RoundTripper
}

func (rt roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context()) // a RoundTripper must not modify the caller's request
	for _, h := range rt.hs.headers {
		if h.action == Delete {
			req.Header.Del(h.key)
			continue
		}
		v, ok := rt.hs.value(req.Context(), h)
		if !ok {
			continue
		}
		present := len(req.Header.Values(h.key)) > 0
		if (h.action == Insert && present) || (h.action == Update && !present) {
			continue
		}
		req.Header.Set(h.key, v)
	}
	return rt.base.RoundTrip(req)
}

// PerRPCCredentials sets the headers as metadata on every gRPC call (otlp_grpc exporter). gRPC gives per-RPC
// credentials no view of the call's other metadata, so insert, update and upsert all set the key, and delete has no
// effect there.
func (hs *headersSetter) PerRPCCredentials() (credentials.PerRPCCredentials, error) {
	return perRPC{hs: hs}, nil
}

type perRPC struct{ hs *headersSetter }

func (p perRPC) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	md := make(map[string]string, len(p.hs.headers))
	for _, h := range p.hs.headers {
		if h.action == Delete {
			continue
		}
		if v, ok := p.hs.value(ctx, h); ok {
			md[strings.ToLower(h.key)] = v
		}
	}
	return md, nil
}

func (perRPC) RequireTransportSecurity() bool { return false }
