package audit_test

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/govcol/govcol/internal/audit"
)

// The decodes BenchmarkExportRow measures: what each exporter calls for a record.
func exportRowPostgres(res pcommon.Resource, lr plog.LogRecord) (audit.Record, error) {
	return audit.FromLogRecordForStore(res, lr)
}

func exportRowDecision(res pcommon.Resource, lr plog.LogRecord) (audit.Record, error) {
	r, _, err := audit.FromLogRecordForDecision(res, lr)
	return r, err
}
