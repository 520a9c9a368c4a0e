package governanceprocessor

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/govcol/govcol/internal/integrity"
	lic "github.com/govcol/govcol/internal/license"
)

// The processor opens the chain store through integrity.OpenChainStore; internal/store registers the implementation
// and the postgresaudit exporter links it into the collector (its tests assert that). A binary without it cannot
// honour integrity.postgres_dsn: the component fails to start with an error that says so, instead of running without
// the registry and sealing.
func TestPostgresDSNWithoutChainStoreFails(t *testing.T) {
	prev := integrity.RegisterChainStore(nil)
	t.Cleanup(func() { integrity.RegisterChainStore(prev) })
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "audit.key")
	_, err := lic.WriteKeyPair(keyFile, filepath.Join(dir, "audit.pub.pem"))
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	cfg.QueryHashKey = "0123456789abcdef0123456789abcdef"
	cfg.Integrity.SigningKeyFile = keyFile
	cfg.Integrity.PostgresDSN = "postgres://govcol@127.0.0.1:1/audit"
	require.NoError(t, cfg.Validate())
	_, err = NewFactory().CreateLogs(context.Background(), processortest.NewNopSettings(NewFactory().Type()), cfg, new(consumertest.LogsSink))
	require.ErrorIs(t, err, integrity.ErrNoChainStore)
	require.ErrorContains(t, err, "links no chain store")
}
