package headerssetterextension

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/govcol/govcol/extension/headerssetterextension/internal/metadata"
)

func loadConfig(t *testing.T, name string) (*Config, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	cfg := createDefaultConfig()
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg, confmap.Validate(cfg)
}

func TestConfig(t *testing.T) {
	cfg, err := loadConfig(t, "")
	require.NoError(t, err)
	require.Len(t, cfg.Headers, 5)
	require.Equal(t, "authorization", *cfg.Headers[0].FromContext)
	require.Equal(t, Insert, cfg.Headers[1].Action)
	require.Equal(t, "govcol-agent", string(*cfg.Headers[2].Value))
	require.Equal(t, "none", string(*cfg.Headers[3].DefaultValue))
	require.Equal(t, Delete, cfg.Headers[4].Action)
	require.Equal(t, 8192, cfg.MaxValueBytes)

	for name, want := range map[string]string{
		"bad_action": `action "replace" is not one of`,
		"both":       "both given",
		"none":       "none given",
		"empty":      "at least one header",
		"bad_name":   "not a valid header name",
		"bad_max":    "max_value_bytes must be positive",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := loadConfig(t, name)
			require.ErrorContains(t, err, want)
		})
	}
}
