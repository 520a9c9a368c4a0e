package governanceprocessor

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/govcol/govcol/internal/integrity"
)

// The processor opens the chain store through integrity.OpenChainStore; internal/store registers the implementation
// and the postgresaudit exporter links it into the collector (its tests assert that). A binary without it cannot
// honour integrity.postgres_dsn: the component fails to start with an error that says so, instead of running without
// the registry and sealing.
func TestPostgresDSNWithoutChainStoreFails(t *testing.T) {
	prev := integrity.RegisterChainStore(nil)
	t.Cleanup(func() { integrity.RegisterChainStore(prev) })
	cfg := createDefaultConfig().(*Config)
	cfg.QueryHashKey = "0123456789abcdef0123456789abcdef"
	cfg.Integrity.SigningKey = configopaque.String(base64.StdEncoding.EncodeToString(make([]byte, ed25519.SeedSize))) // an inline seed
	cfg.Integrity.PostgresDSN = "postgres://govcol@127.0.0.1:1/audit"
	require.NoError(t, cfg.Validate())
	_, err := NewFactory().CreateLogs(context.Background(), processortest.NewNopSettings(NewFactory().Type()), cfg, new(consumertest.LogsSink))
	require.ErrorIs(t, err, integrity.ErrNoChainStore)
	require.ErrorContains(t, err, "links no chain store")
}
