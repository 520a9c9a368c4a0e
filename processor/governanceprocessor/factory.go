package governanceprocessor // import "github.com/govcol/govcol/processor/governanceprocessor"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"

	"github.com/govcol/govcol/processor/governanceprocessor/internal/metadata"
)

// The processor changes the data it is given (masking, stamping).
var processorCapabilities = consumer.Capabilities{MutatesData: true}

// NewFactory creates a factory for the governance processor.
func NewFactory() processor.Factory {
	return processor.NewFactory(
		metadata.Type,
		createDefaultConfig,
		processor.WithLogs(createLogs, metadata.LogsStability),
		processor.WithTraces(createTraces, metadata.TracesStability),
		processor.WithMetrics(createMetrics, metadata.MetricsStability),
	)
}

func createLogs(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Logs) (processor.Logs, error) {
	g, err := newGovernor(cfg.(*Config), set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	if err := g.enableIntegrity(set.TelemetrySettings, next); err != nil {
		return nil, err
	}
	p, err := processorhelper.NewLogs(ctx, set, cfg, settlingLogs{next, g}, g.processLogs,
		processorhelper.WithCapabilities(processorCapabilities), processorhelper.WithStart(g.start),
		processorhelper.WithShutdown(g.shutdown))
	if err != nil {
		return nil, err
	}
	return linkingLogs{p}, nil
}

func createTraces(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Traces) (processor.Traces, error) {
	g, err := newGovernor(cfg.(*Config), set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	return processorhelper.NewTraces(ctx, set, cfg, next, g.processTraces,
		processorhelper.WithCapabilities(processorCapabilities), processorhelper.WithShutdown(g.shutdown))
}

func createMetrics(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Metrics) (processor.Metrics, error) {
	g, err := newGovernor(cfg.(*Config), set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	return processorhelper.NewMetrics(ctx, set, cfg, next, g.processMetrics,
		processorhelper.WithCapabilities(processorCapabilities), processorhelper.WithShutdown(g.shutdown))
}
