package e2e

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStageOfChargesTheInnermostStep(t *testing.T) {
	names := append([]string{gcStage.name}, stageNames()...)
	names = append(names, otherStage)
	stage := func(frames ...string) string { return names[stageOf(frames)] }

	receiver := "go.opentelemetry.io/collector/receiver/otlpreceiver/internal/logs.(*Receiver).Export"
	processor := "github.com/govcol/govcol/processor/governanceprocessor.(*governor).processLogs"
	fanout := "go.opentelemetry.io/collector/internal/fanoutconsumer.(*logsConsumer).ConsumeLogs"
	exporter := "github.com/govcol/govcol/exporter/postgresauditexporter.(*auditExporter).pushLogs"

	require.Equal(t, "OTLP receiver: HTTP and gRPC serving, decompression, protobuf decoding",
		stage("runtime.mallocgc", "go.opentelemetry.io/collector/pdata/internal.(*LogRecord).UnmarshalProto", receiver))
	require.Equal(t, "governance processor: PII and secret masking (internal/pii)",
		stage("regexp.(*Regexp).tryBacktrack", "github.com/govcol/govcol/internal/pii.(*Engine).Mask", processor, receiver))
	require.Equal(t, "governance processor: hash chain and checkpoints (internal/integrity)",
		stage("crypto/sha256.(*Digest).Write", "github.com/govcol/govcol/internal/integrity.(*Chainer).LinkRecord",
			processor, receiver))
	require.Equal(t, "governance processor: identity, mapping, verdicts, stamping",
		stage("github.com/govcol/govcol/internal/audit.WriteAttributes", processor, receiver))
	require.Equal(t, "pipeline fan-out (copies for a consumer that mutates)",
		stage("go.opentelemetry.io/collector/pdata/plog.Logs.CopyTo",
			"go.opentelemetry.io/collector/internal/fanoutconsumer.cloneLogs", fanout, processor, receiver))
	require.Equal(t, "count connector (decision metrics)",
		stage("github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl.(*Condition).Eval",
			"github.com/open-telemetry/opentelemetry-collector-contrib/connector/countconnector.(*count).ConsumeLogs",
			fanout, processor, receiver), "the connector's own OTTL is the connector's, not the processor's policies")
	require.Equal(t, "Postgres exporter: Postgres driver (pgx, COPY protocol)",
		stage("github.com/jackc/pgx/v5/pgconn.(*PgConn).CopyFrom", exporter))
	require.Equal(t, "Postgres exporter: records to rows",
		stage("github.com/govcol/govcol/internal/audit.FromLogRecordForStore", exporter))
	require.Equal(t, gcStage.name, stage("runtime.scanObject", "runtime.gcDrain", "runtime.gcBgMarkWorker"))
	require.Equal(t, gcStage.name, stage("runtime.gcAssistAlloc", "runtime.mallocgc", processor, receiver),
		"an assist is the collector's work even when an allocating step pays it")
	require.Equal(t, otherStage, stage("runtime.findRunnable", "runtime.schedule"))
}

func TestStageTableSplitsGovcolsOwnStepsFromTheRest(t *testing.T) {
	names := append([]string{gcStage.name}, stageNames()...)
	names = append(names, otherStage)
	shares := make([]float64, len(names))
	for i := range names {
		if names[i] == "Postgres exporter: records to rows" {
			shares[i] = 0.25
		}
		if names[i] == gcStage.name {
			shares[i] = 0.75
		}
	}
	lines := stageTable(names, shares, 80)
	require.Contains(t, lines, "| Postgres exporter: records to rows | 25.0 % | 20.0 |")
	require.Contains(t, lines, "| govcol's own steps (processor, its two exporters; not GC) | 25.0 % | 20.0 |")
	require.Contains(t, lines, "| the rest (receiver, upstream connectors and exporters, queues, driver, runtime, GC) | 75.0 % | 60.0 |")
}
