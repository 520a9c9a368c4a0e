package postgresauditexporter

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/govcol/govcol/exporter/postgresauditexporter/internal/metadata"
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
	want := createDefaultConfig().(*Config)
	want.DSN = "postgres://govcol@127.0.0.1:5432/audit?sslmode=disable"
	assert.Equal(t, want, cfg)
	assert.Equal(t, "audit_logs", cfg.Table)
	assert.True(t, cfg.CreateSchema)
	assert.Equal(t, "govcol-audit-fallback.jsonl.dead-letter", cfg.deadLetterPath())

	cfg, err = loadConfig(t, "full")
	require.NoError(t, err)
	assert.Equal(t, "governed_audit", cfg.Table)
	assert.False(t, cfg.CreateSchema)
	assert.Equal(t, 10*time.Second, cfg.Timeout)
	assert.Equal(t, int64(5000), cfg.QueueConfig.Get().QueueSize)
	assert.Equal(t, int64(10000), cfg.QueueConfig.Get().Batch.Get().MaxSize)
	assert.Equal(t, "/var/lib/govcol/audit-dead-letter.jsonl", cfg.deadLetterPath())
	assert.Len(t, cfg.Retention.Categories, 2)
	// 5m - 20s x 1.5 - 10s
	assert.Equal(t, 4*time.Minute+20*time.Second, cfg.spillAfter())
}

func TestInvalidConfigs(t *testing.T) {
	for name, want := range map[string]string{
		"bad_table":          `table "audit_logs; drop table users" must match`,
		"no_fallback":        "fallback.path must be set",
		"same_files":         "fallback.dead_letter_path must differ from fallback.path",
		"bad_retention":      `retention category "claude_code_": days must be at least 1`,
		"duplicate_category": `retention category "sdk_" is configured twice`,
		"replay_batch":       "fallback.replay_batch_size must be between 1 and 100000",
		"pool":               "pool.max_conns must be at least 1",
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
	cfg.DSN = "postgres://explicit@127.0.0.1/db"
	assert.Equal(t, "postgres://explicit@127.0.0.1/db", cfg.dsn())
}

func TestSpillAfterFollowsTheRetryBudget(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	// Defaults: 60s - 10s x 1.5 - 5s.
	assert.Equal(t, 40*time.Second, cfg.spillAfter())
	cfg.BackOffConfig.Enabled = false
	assert.Negative(t, cfg.spillAfter(), "no retries: spill at the first failure")
	cfg.BackOffConfig.Enabled = true
	cfg.BackOffConfig.MaxElapsedTime = 10 * time.Second
	assert.Negative(t, cfg.spillAfter(), "a budget smaller than one retry: spill at the first failure")
}

func TestPlanRetentionLongestPrefixWins(t *testing.T) {
	plans := planRetention([]RetentionCategory{
		{RequestTypePrefix: "claude_code_api_", Days: 30},
		{RequestTypePrefix: "", Days: 365},
		{RequestTypePrefix: "claude_code_", Days: 90},
	})
	require.Len(t, plans, 3)
	assert.Equal(t, "", plans[0].prefix)
	assert.Equal(t, []string{"claude_code_", "claude_code_api_"}, plans[0].excluded)
	assert.Equal(t, "claude_code_", plans[1].prefix)
	assert.Equal(t, []string{"claude_code_api_"}, plans[1].excluded)
	assert.Empty(t, plans[2].excluded)
	assert.Equal(t, 30*24*time.Hour, plans[2].maxAge)
}
