package headerssetterextension // import "github.com/govcol/govcol/extension/headerssetterextension"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"

	"github.com/govcol/govcol/extension/headerssetterextension/internal/metadata"
)

// NewFactory creates a factory for the headers_setter extension.
func NewFactory() extension.Factory {
	return extension.NewFactory(metadata.Type, func() component.Config { return createDefaultConfig() },
		createExtension, metadata.ExtensionStability)
}

func createExtension(_ context.Context, _ extension.Settings, cfg component.Config) (extension.Extension, error) {
	return newHeadersSetter(cfg.(*Config)), nil
}
