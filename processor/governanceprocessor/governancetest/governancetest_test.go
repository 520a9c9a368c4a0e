package governancetest

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/audittest"
)

var update = flag.Bool("update", false, "rewrite internal/audittest/testdata/governed-tenant-a.json")

// volatile are the attributes that differ between two runs of the processor over the same capture: the per-process
// chain (id, links, hashes), the receive time, and query_hash (a random key per process when query_hash_key is unset).
var volatile = map[string]bool{
	audit.AttrPrefix + "chain_id": true, audit.AttrPrefix + "prev_hash": true, audit.AttrPrefix + "record_hash": true,
	audit.AttrPrefix + "received_at": true, audit.AttrPrefix + "query_hash": true,
}

// The stored governed fixture (audittest.GovernedFixture) is what the processor makes of the capture today, but for
// what differs between any two runs.
func TestGovernedFixtureIsCurrent(t *testing.T) {
	got := Governed(t, "tenant-a")
	path := filepath.Join("..", "..", "..", "internal", "audittest", "testdata", "governed-tenant-a.json")
	if *update {
		b, err := (&plog.JSONMarshaler{}).MarshalLogs(got)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(path, b, 0o644))
		return // the stored copy is embedded: the next run compares with the new file
	}
	stored := audittest.GovernedFixture(t)
	require.Equal(t, stable(got), stable(stored), "run with -update after a change to what the processor stores")
}

// stable is ld's records (resource, body, attributes) without the volatile attributes.
func stable(ld plog.Logs) []map[string]any {
	var out []map[string]any
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				attrs := lr.Attributes().AsRaw()
				for k := range attrs {
					if volatile[k] {
						delete(attrs, k)
					}
				}
				out = append(out, map[string]any{
					"resource": rl.Resource().Attributes().AsRaw(), "scope": sl.Scope().Name(),
					"time": lr.Timestamp(), "observed": lr.ObservedTimestamp(), "body": lr.Body().AsRaw(),
					"attributes": attrs,
				})
			}
		}
	}
	return out
}
