package auditapiextension

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/govcol/govcol/extension/auditapiextension/internal/metadata"
	"github.com/govcol/govcol/extension/licenseauthextension"
)

// The documented defaults (README, Configuration), as literals.
func TestFactoryDefaults(t *testing.T) {
	f := NewFactory()
	assert.Equal(t, "auditapi", f.Type().String())
	assert.Equal(t, metadata.ExtensionStability, f.Stability())
	cfg := f.CreateDefaultConfig().(*Config)
	assert.Equal(t, "127.0.0.1:8080", cfg.ServerConfig.NetAddr.Endpoint)
	assert.Equal(t, "tcp", string(cfg.ServerConfig.NetAddr.Transport))
	assert.False(t, cfg.ServerConfig.Auth.HasValue(), "confighttp's auth is unset: the API authenticates /api/ with authenticator")
	assert.False(t, cfg.ServerConfig.TLS.HasValue())
	assert.Equal(t, component.MustNewID("licenseauth"), cfg.Authenticator)
	assert.Equal(t, "", string(cfg.DSN))
	assert.Equal(t, "audit_logs", cfg.Table)
	assert.Equal(t, "audit_checkpoints", cfg.CheckpointsTable)
	assert.Equal(t, "", cfg.AdminTier)
	assert.Equal(t, 10*time.Second, cfg.QueryTimeout)
	assert.Equal(t, 1000, cfg.MaxPageSize)
	assert.Equal(t, 50_000, cfg.ExportRowCap)
	assert.Equal(t, int64(65536), cfg.MaxRequestBytes)
	assert.Empty(t, cfg.VerifyPublicKeyFiles)
}

// lifecycleHost is the host of the generated lifecycle test (metadata.yaml, tests.host): it holds a licenseauth
// extension (created, not started: Start only looks it up), as a collector would.
func lifecycleHost() component.Host {
	f := licenseauthextension.NewFactory()
	cfg := f.CreateDefaultConfig().(*licenseauthextension.Config)
	cfg.PublicKeyFiles = []string{"../licenseauthextension/testdata/public.pem"}
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	if err != nil {
		panic(err)
	}
	return fakeHost{exts: map[component.ID]component.Component{component.MustNewID("licenseauth"): ext}}
}
