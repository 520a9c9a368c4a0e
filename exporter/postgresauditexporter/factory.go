package postgresauditexporter // import "github.com/govcol/govcol/exporter/postgresauditexporter"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/govcol/govcol/exporter/postgresauditexporter/internal/metadata"
)

// NewFactory creates a factory for the postgresaudit exporter.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(metadata.Type, createDefaultConfig,
		exporter.WithLogs(createLogs, metadata.LogsStability))
}

func createDefaultConfig() component.Config {
	queue := exporterhelper.NewDefaultQueueConfig()
	if b := queue.Batch.Get(); b != nil {
		// Large batches make COPY efficient; the cap bounds one transaction.
		b.MaxSize = 20_000
	}
	// A shorter budget than the exporterhelper default (5 min): an audit record is safer on local disk than in
	// memory, so after about 40 s of failures a batch spills to the fallback file.
	retry := configretry.NewDefaultBackOffConfig()
	retry.InitialInterval = time.Second
	retry.MaxInterval = 10 * time.Second
	retry.MaxElapsedTime = time.Minute
	return &Config{
		TimeoutConfig:        exporterhelper.NewDefaultTimeoutConfig(),
		BackOffConfig:        retry,
		QueueConfig:          configoptional.Some(queue),
		Table:                "audit_logs",
		CheckpointsTable:     "audit_checkpoints",
		CreateSchema:         true,
		PartitionMonthsAhead: 3,
		Pool:                 PoolConfig{MaxConns: 10, ConnectTimeout: 5 * time.Second},
		Fallback: FallbackConfig{
			Path:               "govcol-audit-fallback.jsonl",
			MaxBytes:           1 << 30,
			DeadLetterMaxBytes: 256 << 20,
			ReplayInterval:     5 * time.Second,
			ReplayBatchSize:    1000,
		},
		Retention: RetentionConfig{CleanupInterval: time.Hour, BatchSize: 10_000},
	}
}

func createLogs(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Logs, error) {
	exp, _, err := newLogsExporter(ctx, set, cfg.(*Config))
	return exp, err
}

func newLogsExporter(ctx context.Context, set exporter.Settings, c *Config) (exporter.Logs, *auditExporter, error) {
	e, err := newAuditExporter(c, set.TelemetrySettings)
	if err != nil {
		return nil, nil, err
	}
	exp, err := exporterhelper.NewLogs(ctx, set, c, e.pushLogs,
		exporterhelper.WithStart(e.start),
		exporterhelper.WithShutdown(e.shutdown),
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
		exporterhelper.WithTimeout(c.TimeoutConfig),
		exporterhelper.WithRetry(c.BackOffConfig),
		exporterhelper.WithQueue(c.QueueConfig),
	)
	return exp, e, err
}
