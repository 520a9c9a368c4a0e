package governanceprocessor

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/govcol/govcol/processor/governanceprocessor/internal/metadata"
)

func loadConfig(t *testing.T, name string) (*Config, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg, confmap.Validate(cfg)
}

func TestLoadConfig(t *testing.T) {
	cfg, err := loadConfig(t, "")
	require.NoError(t, err)
	assert.Equal(t, createDefaultConfig(), cfg)
	assert.True(t, cfg.TrustIdentityHeaders)
	assert.Equal(t, []string{"session.id"}, cfg.Metrics.DropAttributes)

	cfg, err = loadConfig(t, "full")
	require.NoError(t, err)
	assert.False(t, cfg.TrustIdentityHeaders)
	assert.Equal(t, "hash", cfg.PII.Mode)
	assert.Equal(t, 500*time.Millisecond, cfg.PII.Timeout)
	assert.Len(t, cfg.Policies, 2)
	assert.Equal(t, "traces", cfg.Policies[1].Signal)
	ps, err := compilePolicies(cfg, component.TelemetrySettings{})
	require.NoError(t, err)
	assert.Len(t, ps.logs, 3, "two system log policies left plus one custom")
	assert.Len(t, ps.traces, 3)
}

func TestInvalidConfigs(t *testing.T) {
	for name, want := range map[string]string{
		"bad_ottl":                       `policy "broken_rule": invalid OTTL condition`,
		"bad_verdict":                    `policy "odd": verdict "maybe"`,
		"reserved_id":                    `policy "sys_mine": ids starting with sys_ are reserved`,
		"unauthenticated_without_tenant": "allow_unauthenticated needs default_tenant.tenant_id",
		"content_key_safe":               `safe_attributes: "prompt" carries content`,
		"hash_without_key":               "hash mode needs a hash_key",
		"unknown_system_policy":          `unknown system policy "sys_nope"`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := loadConfig(t, name)
			require.ErrorContains(t, err, want)
		})
	}
}
