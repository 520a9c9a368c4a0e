package headerssetterextension

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/config/configopaque"
)

func ptr[T any](v T) *T { return &v }

func ctxWith(md map[string][]string) context.Context {
	return client.NewContext(context.Background(), client.Info{Metadata: client.NewMetadata(md)})
}

// A test server echoes the request headers it received.
func roundTrip(t *testing.T, hs *headersSetter, ctx context.Context, pre http.Header) http.Header {
	t.Helper()
	got := make(chan http.Header, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got <- r.Header.Clone() }))
	defer srv.Close()
	rt, err := hs.RoundTripper(http.DefaultTransport)
	require.NoError(t, err)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, nil)
	require.NoError(t, err)
	for k, v := range pre {
		req.Header[k] = v
	}
	resp, err := rt.RoundTrip(req)
	require.NoError(t, err)
	resp.Body.Close()
	// The caller's request is not modified.
	require.Empty(t, req.Header.Get("Authorization"))
	return <-got
}

func TestHTTPFromContext(t *testing.T) {
	hs := newHeadersSetter(&Config{MaxValueBytes: 64, Headers: []HeaderConfig{
		{Key: ptr("Authorization"), FromContext: ptr("authorization")},
		{Key: ptr("X-User-Email"), FromContext: ptr("x-user-email")},
		{Key: ptr("X-Session-Id"), FromContext: ptr("x-session-id"), DefaultValue: ptr(configopaque.String("none"))},
		{Key: ptr("X-Axonflow-Client"), Value: ptr(configopaque.String("agent")), Action: Insert},
		{Key: ptr("X-Existing"), Value: ptr(configopaque.String("new")), Action: Update},
		{Key: ptr("X-Absent"), Value: ptr(configopaque.String("new")), Action: Update},
		{Key: ptr("X-Debug"), Action: Delete},
	}})

	// Two requests with different metadata get their own headers (gRPC delivers lower-case keys, HTTP canonical).
	a := roundTrip(t, hs, ctxWith(map[string][]string{
		"authorization": {"Bearer license-a"}, "x-user-email": {"a@example.com"}, "x-session-id": {"s-a"},
	}), http.Header{"X-Axonflow-Client": {"claude"}, "X-Existing": {"old"}, "X-Debug": {"1"}})
	b := roundTrip(t, hs, ctxWith(map[string][]string{
		"Authorization": {"Bearer license-b"}, "X-User-Email": {"b@example.com"},
	}), nil)

	require.Equal(t, "Bearer license-a", a.Get("Authorization"))
	require.Equal(t, "a@example.com", a.Get("X-User-Email"))
	require.Equal(t, "s-a", a.Get("X-Session-Id"))
	require.Equal(t, "claude", a.Get("X-Axonflow-Client"), "insert keeps a header that is there")
	require.Equal(t, "new", a.Get("X-Existing"), "update replaces a header that is there")
	require.Empty(t, a.Values("X-Absent"), "update adds nothing")
	require.Empty(t, a.Values("X-Debug"), "delete removes")

	require.Equal(t, "Bearer license-b", b.Get("Authorization"))
	require.Equal(t, "b@example.com", b.Get("X-User-Email"))
	require.Equal(t, "none", b.Get("X-Session-Id"), "default_value when the context has none")
	require.Equal(t, "agent", b.Get("X-Axonflow-Client"), "insert sets a header that is absent")

	// No client info at all: only fixed values and defaults.
	c := roundTrip(t, hs, context.Background(), nil)
	require.Empty(t, c.Values("Authorization"))
	require.Equal(t, "none", c.Get("X-Session-Id"))
}

func TestHTTPRefusesUnsafeValues(t *testing.T) {
	hs := newHeadersSetter(&Config{MaxValueBytes: 16, Headers: []HeaderConfig{
		{Key: ptr("X-Session-Id"), FromContext: ptr("x-session-id"), DefaultValue: ptr(configopaque.String("dflt"))},
		{Key: ptr("X-User-Email"), FromContext: ptr("x-user-email")},
	}})
	for name, v := range map[string]string{
		"too long": strings.Repeat("a", 17),
		"newline":  "a\r\nX-Evil: 1",
		"nul":      "a\x00b",
		"empty":    "",
	} {
		t.Run(name, func(t *testing.T) {
			h := roundTrip(t, hs, ctxWith(map[string][]string{"x-session-id": {v}, "x-user-email": {v}}), nil)
			require.Equal(t, "dflt", h.Get("X-Session-Id"))
			require.Empty(t, h.Values("X-User-Email"))
			require.Empty(t, h.Values("X-Evil"))
		})
	}
	// Exactly at the limit is forwarded.
	h := roundTrip(t, hs, ctxWith(map[string][]string{"x-session-id": {strings.Repeat("a", 16)}}), nil)
	require.Equal(t, strings.Repeat("a", 16), h.Get("X-Session-Id"))
}

func TestGRPCMetadata(t *testing.T) {
	hs := newHeadersSetter(&Config{MaxValueBytes: 64, Headers: []HeaderConfig{
		{Key: ptr("Authorization"), FromContext: ptr("authorization")},
		{Key: ptr("X-Session-Id"), FromContext: ptr("x-session-id"), DefaultValue: ptr(configopaque.String("none"))},
		{Key: ptr("X-Debug"), Action: Delete},
	}})
	creds, err := hs.PerRPCCredentials()
	require.NoError(t, err)
	require.False(t, creds.RequireTransportSecurity())
	md, err := creds.GetRequestMetadata(ctxWith(map[string][]string{"authorization": {"Bearer x"}}))
	require.NoError(t, err)
	require.Equal(t, map[string]string{"authorization": "Bearer x", "x-session-id": "none"}, md)
}
