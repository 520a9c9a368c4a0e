package headerssetterextension

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/govcol/govcol/extension/headerssetterextension/internal/metadata"
)

// The defaults the README's configuration table documents, as literals.
func TestFactoryDefaults(t *testing.T) {
	f := NewFactory()
	require.Equal(t, "headers_setter", f.Type().String())
	require.Equal(t, metadata.Type, f.Type())

	cfg := f.CreateDefaultConfig().(*Config)
	require.Equal(t, &Config{MaxValueBytes: 8192}, cfg)
	// headers is required: the default configuration alone does nothing and is refused.
	require.ErrorContains(t, cfg.Validate(), "at least one header")

	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, ext.Shutdown(context.Background()))
}

// An entry without an action is an upsert (the documented default): it overwrites a header the request carries.
func TestDefaultActionIsUpsert(t *testing.T) {
	cfg := &Config{MaxValueBytes: 8192, Headers: []HeaderConfig{{Key: ptr("X-Scope"), Value: ptr(configopaque.String("govcol"))}}}
	require.NoError(t, cfg.Validate())
	got := roundTrip(t, newHeadersSetter(cfg), context.Background(), http.Header{"X-Scope": {"client"}})
	require.Equal(t, []string{"govcol"}, got.Values("X-Scope"))
	got = roundTrip(t, newHeadersSetter(cfg), context.Background(), nil)
	require.Equal(t, []string{"govcol"}, got.Values("X-Scope"))
}
