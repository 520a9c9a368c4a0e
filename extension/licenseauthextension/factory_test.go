package licenseauthextension

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/govcol/govcol/extension/licenseauthextension/internal/metadata"
)

// The documented defaults (README, Configuration), as literals.
func TestFactoryDefaults(t *testing.T) {
	f := NewFactory()
	assert.Equal(t, "licenseauth", f.Type().String())
	assert.Equal(t, metadata.ExtensionStability, f.Stability())
	assert.Equal(t, &Config{
		RevocationCheckInterval: 2 * time.Second,
		Leeway:                  30 * time.Second,
		CacheSize:               4096,
		MaxLicenseBytes:         8192,
		Issuer:                  "govcol",
		Audience:                "govcol",
	}, f.CreateDefaultConfig())
	cfg := f.CreateDefaultConfig().(*Config)
	assert.Empty(t, cfg.PublicKeyFiles, "no default key: validation requires one")
	assert.Empty(t, cfg.JWKSFile)
	assert.Empty(t, cfg.RevocationFile)
	assert.False(t, cfg.RequireIssuerAudience)
	assert.ErrorContains(t, cfg.Validate(), "at least one of public_key_files or jwks_file must be set")
}
