package licenseauthextension

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/govcol/govcol/extension/licenseauthextension/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	tests := []struct {
		id      component.ID
		want    *Config
		wantErr string
	}{
		{id: component.NewID(metadata.Type), want: func() *Config {
			c := createDefaultConfig().(*Config)
			c.PublicKeyFiles = []string{"testdata/public.pem"}
			return c
		}()},
		{id: component.NewIDWithName(metadata.Type, "full"), want: &Config{
			PublicKeyFiles: []string{"testdata/public.pem"}, JWKSFile: "testdata/jwks.json",
			RevocationFile: "testdata/revoked.txt", RevocationCheckInterval: 5 * time.Second,
			Leeway: time.Minute, CacheSize: 100, MaxLicenseBytes: 4096,
			Issuer: "acme-licensing", Audience: "acme-collectors", RequireIssuerAudience: true,
		}},
		{id: component.NewIDWithName(metadata.Type, "nokeys"), wantErr: "public_key_files or jwks_file"},
		{id: component.NewIDWithName(metadata.Type, "badleeway"), wantErr: "leeway"},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := NewFactory().CreateDefaultConfig()
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			if tt.wantErr != "" {
				require.ErrorContains(t, confmap.Validate(cfg), tt.wantErr)
				return
			}
			require.NoError(t, confmap.Validate(cfg))
			require.Equal(t, tt.want, cfg)
		})
	}
}
