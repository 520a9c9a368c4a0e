package s3decisionexporter

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/govcol/govcol/exporter/s3decisionexporter/internal/metadata"
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
	want.Bucket = "audit-decisions"
	assert.Equal(t, want, cfg)
	assert.Equal(t, "axonflow/decisions", cfg.Prefix)
	assert.Equal(t, 1024, cfg.BufferSize)
	assert.Equal(t, 5*time.Second, cfg.PutTimeout)
	assert.Equal(t, BreakerConfig{Threshold: 5, Cooldown: 30 * time.Second}, cfg.Breaker)

	cfg, err = loadConfig(t, "full")
	require.NoError(t, err)
	assert.Equal(t, "govcol/prod/decisions", cfg.Prefix)
	assert.True(t, cfg.S3ForcePathStyle)
	assert.Equal(t, ObjectLockConfig{Mode: "COMPLIANCE", RetainDays: 2555}, cfg.ObjectLock)
	assert.Equal(t, 65536, cfg.BufferSize)
	assert.Equal(t, LayoutBatched, cfg.Layout)
	assert.Equal(t, BatchConfig{FlushInterval: 10 * time.Second, MaxRecords: 500, CompressionLevel: 9}, cfg.Batch)

	_, err = loadConfig(t, "local")
	require.NoError(t, err)
}

func TestInvalidConfigs(t *testing.T) {
	for name, want := range map[string]string{
		"neither":               "set bucket (S3) or local_dir",
		"both":                  "bucket and local_dir are exclusive",
		"big_buffer":            "buffer_size must be between 1 and 65536",
		"bad_prefix":            `prefix "/decisions/" must not start or end with /`,
		"kms_without_key":       "server_side_encryption aws:kms needs sse_kms_key_id",
		"bad_lock":              `object_lock.mode "FOREVER" must be GOVERNANCE or COMPLIANCE`,
		"lock_without_days":     "object_lock.retain_days must be at least 1",
		"lock_on_local":         "apply to a bucket, not local_dir",
		"bad_breaker":           "breaker.threshold must be at least 1",
		"bad_compression_level": "batch.compression_level must be between 1 and 9",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := loadConfig(t, name)
			require.ErrorContains(t, err, want)
		})
	}
}

func TestBreakerStates(t *testing.T) {
	now := time.Unix(1000, 0)
	b := newBreaker(2, 10*time.Second, func() time.Time { return now })
	assert.True(t, b.allow())
	assert.False(t, b.failure())
	assert.True(t, b.failure(), "opens at the threshold")
	assert.False(t, b.admits())
	assert.False(t, b.allow())
	now = now.Add(10 * time.Second)
	assert.True(t, b.admits())
	assert.True(t, b.allow(), "one probe after the cooldown")
	assert.False(t, b.allow(), "only one")
	assert.True(t, b.failure(), "a failed probe re-opens")
	assert.False(t, b.allow())
	now = now.Add(10 * time.Second)
	assert.True(t, b.allow())
	b.success()
	assert.False(t, b.isOpen())
	assert.True(t, b.allow())
	assert.False(t, b.failure(), "the failure count restarted")
}

func TestObjectKey(t *testing.T) {
	ts := time.Date(2026, 1, 2, 23, 30, 0, 0, time.FixedZone("x", -3*3600)) // 2026-01-03 02:30 UTC
	d := Decision{DecisionID: "0190-abc", Timestamp: &ts}
	assert.Equal(t, "axonflow/decisions/2026/01/03/0190-abc.json", objectKey("axonflow/decisions", &d), "the UTC date")
	assert.Equal(t, "p/q/2026/01/03/0190-abc.json", objectKey("p/q", &d))
	assert.Equal(t, "axonflow/decisions/unpartitioned/0190-abc.json", objectKey("axonflow/decisions", &Decision{DecisionID: "0190-abc"}))
	assert.Equal(t, "2026/01/03/0190-abc.json", objectKey("", &d))
}
