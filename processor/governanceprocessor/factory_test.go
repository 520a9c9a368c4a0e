package governanceprocessor

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/govcol/govcol/processor/governanceprocessor/internal/metadata"
)

// The documented defaults (README, Configuration), as literals.
func TestFactoryDefaults(t *testing.T) {
	f := NewFactory()
	assert.Equal(t, "governance", f.Type().String())
	assert.Equal(t, metadata.LogsStability, f.LogsStability())
	assert.Equal(t, metadata.TracesStability, f.TracesStability())
	assert.Equal(t, metadata.MetricsStability, f.MetricsStability())
	assert.Equal(t, &Config{
		TrustIdentityHeaders:   true,
		PII:                    PIIConfig{Mode: "redact", MaxValueBytes: 65536, Timeout: time.Second},
		MaxContentBytes:        8192,
		MaxHeaderValueBytes:    128,
		MaxAttributesPerRecord: 1024,
		MaxValueDepth:          16,
		Metrics:                MetricsConfig{DropAttributes: []string{"session.id"}},
		Integrity: IntegrityConfig{
			CheckpointInterval: time.Second,
			CheckpointRecords:  1000,
			CheckpointTimeout:  10 * time.Second,
			Table:              "audit_logs",
			CheckpointsTable:   "audit_checkpoints",
		},
	}, f.CreateDefaultConfig())
	cfg := f.CreateDefaultConfig().(*Config)
	assert.False(t, cfg.AllowUnauthenticated, "unauthenticated data is refused by default")
	assert.Empty(t, string(cfg.QueryHashKey), "random per process when unset")
	assert.Empty(t, cfg.Policies)
	assert.Empty(t, cfg.SafeAttributes)
	assert.Empty(t, cfg.DisableSystemPolicies)
	assert.Empty(t, cfg.PII.Types, "every type")
	assert.False(t, cfg.PII.KeepPrivateIPs)
	assert.NoError(t, cfg.Validate())
}
