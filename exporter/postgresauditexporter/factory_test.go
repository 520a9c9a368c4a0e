package postgresauditexporter

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/govcol/govcol/exporter/postgresauditexporter/internal/metadata"
	"github.com/govcol/govcol/internal/integrity"
)

// The documented defaults (README, Configuration), as literals: a changed default fails here and in the README test.
func TestFactoryDefaults(t *testing.T) {
	f := NewFactory()
	assert.Equal(t, "postgresaudit", f.Type().String())
	assert.Equal(t, metadata.LogsStability, f.LogsStability())
	cfg := f.CreateDefaultConfig().(*Config)

	assert.Equal(t, 5*time.Second, cfg.Timeout)

	r := cfg.BackOffConfig
	assert.True(t, r.Enabled)
	assert.Equal(t, time.Second, r.InitialInterval)
	assert.Equal(t, 10*time.Second, r.MaxInterval)
	assert.Equal(t, time.Minute, r.MaxElapsedTime)
	assert.Equal(t, 0.5, r.RandomizationFactor)
	assert.Equal(t, 1.5, r.Multiplier)

	require.True(t, cfg.QueueConfig.HasValue(), "sending_queue is enabled")
	q := cfg.QueueConfig.Get()
	assert.Equal(t, int64(1000), q.QueueSize)
	assert.Equal(t, exporterhelper.RequestSizerTypeRequests, q.Sizer)
	assert.Equal(t, 10, q.NumConsumers)
	assert.False(t, q.BlockOnOverflow)
	assert.Nil(t, q.StorageID)
	// Batching is on by default (exporterhelper's own default leaves it off: configoptional.Default).
	require.True(t, q.Batch.HasValue(), "sending_queue.batch is enabled")
	b := q.Batch.Get()
	assert.Equal(t, 200*time.Millisecond, b.FlushTimeout)
	assert.Equal(t, exporterhelper.RequestSizerTypeItems, b.Sizer)
	assert.Equal(t, int64(8192), b.MinSize)
	assert.Equal(t, int64(8192), b.MaxSize)
	assert.Empty(t, b.Partition.MetadataKeys)

	assert.Equal(t, "", string(cfg.DSN))
	assert.Equal(t, "audit_logs", cfg.Table)
	assert.Equal(t, "audit_checkpoints", cfg.CheckpointsTable)
	assert.True(t, cfg.CreateSchema)
	assert.Equal(t, 3, cfg.PartitionMonthsAhead)
	assert.Equal(t, PoolConfig{MaxConns: 10, ConnectTimeout: 5 * time.Second}, cfg.Pool)
	assert.Equal(t, FallbackConfig{
		Path:               "govcol-audit-fallback.jsonl",
		MaxBytes:           1 << 30,
		DeadLetterMaxBytes: 256 << 20,
		ReplayInterval:     5 * time.Second,
		ReplayBatchSize:    1000,
	}, cfg.Fallback)
	assert.Equal(t, "govcol-audit-fallback.jsonl.dead-letter", cfg.deadLetterPath())
	assert.Equal(t, RetentionConfig{CleanupInterval: time.Hour, BatchSize: 10_000}, cfg.Retention)
	assert.Equal(t, IntegrityConfig{}, cfg.Integrity)
	// Spill budget: 1m - 10s x 1.5 - 5s.
	assert.Equal(t, 40*time.Second, cfg.spillAfter())
}

// The default batch goes through exporterhelper's validation (a batch larger than the queue, a max below the min
// would be refused at start).
func TestFactoryDefaultsValidate(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.DSN = "postgres://govcol@127.0.0.1:5432/audit"
	require.NoError(t, cfg.Validate())
	require.NoError(t, cfg.QueueConfig.Get().Validate())
	require.NoError(t, cfg.QueueConfig.Get().Batch.Get().Validate())
}

// The governance processor opens its chain store (registry and crash sealing) through integrity.OpenChainStore,
// which internal/store registers: the collector links it through this exporter (cmd/govcol is generated and imports
// only the components), so this exporter's package must keep importing the store.
func TestLinksTheChainStore(t *testing.T) {
	require.True(t, integrity.ChainStoreRegistered(), "internal/store's chain store is not registered: the governance processor's integrity.postgres_dsn would fail")
}
