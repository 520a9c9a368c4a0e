package s3decisionexporter

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/govcol/govcol/exporter/s3decisionexporter/internal/metadata"
)

// The defaults of the README's configuration table, as literals.
func TestFactoryDefaults(t *testing.T) {
	f := NewFactory()
	assert.Equal(t, "s3decision", f.Type().String())
	assert.Equal(t, metadata.LogsStability, f.LogsStability())
	cfg := f.CreateDefaultConfig().(*Config)
	assert.Empty(t, cfg.Bucket)
	assert.Empty(t, cfg.LocalDir)
	assert.Equal(t, "axonflow/decisions", cfg.Prefix)
	assert.Equal(t, "us-east-1", cfg.Region)
	assert.Empty(t, cfg.Endpoint)
	assert.False(t, cfg.S3ForcePathStyle)
	assert.Empty(t, cfg.ServerSideEncryption)
	assert.Equal(t, 1024, cfg.BufferSize)
	assert.Equal(t, 5*time.Second, cfg.PutTimeout)
	assert.Equal(t, 4, cfg.Workers)
	assert.Equal(t, 5, cfg.Breaker.Threshold)
	assert.Equal(t, 30*time.Second, cfg.Breaker.Cooldown)
	assert.Equal(t, time.Minute, cfg.Batch.FlushInterval)
	assert.Equal(t, 10000, cfg.Batch.MaxRecords)
	assert.Empty(t, cfg.Batch.Instance)
	assert.Equal(t, 1, cfg.Batch.CompressionLevel)
}
