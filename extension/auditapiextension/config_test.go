package auditapiextension

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/govcol/govcol/extension/auditapiextension/internal/metadata"
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
	assert.Equal(t, "postgres://govcol_reader@127.0.0.1:5432/audit?sslmode=disable", cfg.dsn())
	assert.Equal(t, "127.0.0.1:8080", cfg.ServerConfig.NetAddr.Endpoint)
	assert.Equal(t, "licenseauth", cfg.Authenticator.String())
	assert.Equal(t, "audit_logs", cfg.Table)

	cfg, err = loadConfig(t, "full")
	require.NoError(t, err)
	assert.Equal(t, "0.0.0.0:9443", cfg.ServerConfig.NetAddr.Endpoint)
	assert.Equal(t, component.MustNewIDWithName("licenseauth", "readers"), cfg.Authenticator)
	assert.Equal(t, "postgres://govcol_reader@db.internal:5432/audit?sslmode=verify-full", cfg.dsn())
	assert.Equal(t, "governed_audit", cfg.Table)
	assert.Equal(t, "governed_checkpoints", cfg.CheckpointsTable)
	assert.Equal(t, 3*time.Second, cfg.QueryTimeout)
	assert.Equal(t, 200, cfg.MaxPageSize)
	assert.Equal(t, 10000, cfg.ExportRowCap)
	assert.Equal(t, int64(4096), cfg.MaxRequestBytes)
	assert.Equal(t, []string{"/etc/govcol/audit-2026.pub.pem", "/etc/govcol/audit-2025.pub.pem"}, cfg.VerifyPublicKeyFiles)

	// Deprecated and ignored, but still loads (a warning at start).
	cfg, err = loadConfig(t, "admin_tier")
	require.NoError(t, err)
	assert.Equal(t, "enterprise", cfg.AdminTier)
}

func TestInvalidConfigs(t *testing.T) {
	for name, want := range map[string]string{
		"bad_table":         "must match ^[a-z_][a-z0-9_]{0,39}$",
		"bad_timeout":       "query_timeout must be positive",
		"bad_page_size":     "max_page_size must be between 1 and 10000",
		"bad_export_cap":    "export_row_cap must be between 1 and 1000000",
		"bad_request_bytes": "max_request_bytes must be at least 1024",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := loadConfig(t, name)
			require.ErrorContains(t, err, want)
		})
	}
}

func TestDSNFromEnvironment(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	t.Setenv(EnvDSN, "")
	require.ErrorContains(t, cfg.Validate(), "dsn is empty and GOVCOL_PG_DSN is not set")
	t.Setenv(EnvDSN, "postgres://from-env@127.0.0.1/db")
	require.NoError(t, cfg.Validate())
	assert.Equal(t, "postgres://from-env@127.0.0.1/db", cfg.dsn())
}
