package auditapiextension // import "github.com/govcol/govcol/extension/auditapiextension"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/extension"

	"github.com/govcol/govcol/extension/auditapiextension/internal/metadata"
)

// NewFactory creates a factory for the auditapi extension.
func NewFactory() extension.Factory {
	return extension.NewFactory(metadata.Type, createDefaultConfig, create, metadata.ExtensionStability)
}

func createDefaultConfig() component.Config {
	server := confighttp.NewDefaultServerConfig()
	server.NetAddr.Endpoint = "127.0.0.1:8080"
	return &Config{
		ServerConfig:     server,
		Authenticator:    component.MustNewID("licenseauth"),
		Table:            "audit_logs",
		CheckpointsTable: "audit_checkpoints",
		QueryTimeout:     10 * time.Second,
		MaxPageSize:      1000,
		ExportRowCap:     50_000,
		MaxRequestBytes:  64 << 10,
	}
}

func create(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	return newAuditAPI(cfg.(*Config), set.TelemetrySettings)
}
