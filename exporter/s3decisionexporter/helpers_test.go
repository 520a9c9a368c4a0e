package s3decisionexporter

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/govcol/govcol/internal/pgtest"
	"github.com/govcol/govcol/processor/governanceprocessor/governancetest"
)

// runWithPostgres is the package's TestMain body (see metadata.yaml, tests.goleak.setup): the package's ephemeral
// Postgres, then goleak's check once the cluster is gone. The generated lifecycle test writes its objects under
// testdata/lifecycle; it is removed afterwards.
func runWithPostgres(m *testing.M) int {
	defer os.RemoveAll(filepath.Join("testdata", "lifecycle"))
	return pgtest.RunVerifyingLeaks(m)
}

// governed is the captured Claude Code logs governed for tenant (11 canonical records).
func governed(t testing.TB, tenant string) plog.Logs { return governancetest.Governed(t, tenant) }

func outcomes(t testing.TB, tel *componenttest.Telemetry) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	m, err := tel.GetMetric("otelcol_s3decision_objects")
	if err != nil {
		return out
	}
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		v, _ := dp.Attributes.Value("outcome")
		out[v.AsString()] += dp.Value
	}
	return out
}

func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type metricdataPoint = metricdata.DataPoint[int64]

func ignoreTimestamp() metricdatatest.Option { return metricdatatest.IgnoreTimestamp() }
