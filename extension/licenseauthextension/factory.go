package licenseauthextension // import "github.com/govcol/govcol/extension/licenseauthextension"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"

	"github.com/govcol/govcol/extension/licenseauthextension/internal/metadata"
)

// NewFactory creates a factory for the licenseauth extension.
func NewFactory() extension.Factory {
	return extension.NewFactory(metadata.Type, createDefaultConfig, createExtension, metadata.ExtensionStability)
}

func createExtension(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	return newLicenseAuth(cfg.(*Config), set)
}
