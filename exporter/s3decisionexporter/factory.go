package s3decisionexporter // import "github.com/govcol/govcol/exporter/s3decisionexporter"

import (
	"compress/gzip"
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/govcol/govcol/exporter/s3decisionexporter/internal/metadata"
)

// NewFactory creates a factory for the s3decision exporter.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(metadata.Type, createDefaultConfig,
		exporter.WithLogs(createLogs, metadata.LogsStability))
}

func createDefaultConfig() component.Config {
	return &Config{
		Prefix:     "axonflow/decisions",
		Region:     "us-east-1",
		BufferSize: 1024,
		PutTimeout: 5 * time.Second,
		Workers:    4,
		Breaker:    BreakerConfig{Threshold: 5, Cooldown: 30 * time.Second},
		Selection:  DefaultSelection,
		Layout:     LayoutPerDecision,
		Batch:      BatchConfig{FlushInterval: time.Minute, MaxRecords: 10000, CompressionLevel: gzip.BestSpeed},
		Reconcile: ReconcileConfig{
			Table: "audit_logs", Interval: 30 * time.Second, Slice: 5 * time.Minute, Settle: 2 * time.Minute,
			Recheck: time.Hour, InitialLookback: 24 * time.Hour, MaxSlicesPerPass: 48, PutConcurrency: 8,
		},
	}
}

func createLogs(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Logs, error) {
	exp, _, err := newLogsExporter(ctx, set, cfg.(*Config))
	return exp, err
}

func newLogsExporter(ctx context.Context, set exporter.Settings, c *Config) (exporter.Logs, *decisionExporter, error) {
	e, err := newDecisionExporter(c, set.TelemetrySettings)
	if err != nil {
		return nil, nil, err
	}
	// The exporter's own bounded buffer is the queue; exporterhelper's queue and retries are off so that consuming
	// never blocks or fails (fail-open).
	exp, err := exporterhelper.NewLogs(ctx, set, c, e.pushLogs,
		exporterhelper.WithStart(e.start),
		exporterhelper.WithShutdown(e.shutdown),
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
		exporterhelper.WithQueue(configoptional.None[exporterhelper.QueueBatchConfig]()),
		exporterhelper.WithRetry(configretry.BackOffConfig{Enabled: false}),
	)
	return exp, e, err
}
