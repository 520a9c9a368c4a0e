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

// defaultBatchSize is the default sending_queue batch min_size and max_size, in records.
const defaultBatchSize = 8192

func createDefaultConfig() component.Config {
	// Batching is on: exporterhelper's default leaves it off (configoptional.Default), so the batch is set here.
	// One batch is one transaction (COPY, INSERT, commit) and must commit well within `timeout` on a loaded host;
	// 8192 records is exporterhelper's own min_size and keeps COPY efficient (see the README).
	queue := exporterhelper.NewDefaultQueueConfig()
	queue.Batch = configoptional.Some(exporterhelper.BatchConfig{
		FlushTimeout: 200 * time.Millisecond,
		Sizer:        exporterhelper.RequestSizerTypeItems,
		MinSize:      defaultBatchSize,
		MaxSize:      defaultBatchSize,
	})
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
