package governancetest

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/audittest"
)

var update = flag.Bool("update", false, "rewrite internal/audittest/testdata/governed-tenant-a.json")

// volatile are the fields that differ between two runs of the processor over the same capture: the per-process
// chain (id, links, hashes), the receive time, and query_hash (a random key per process when query_hash_key is unset).
var volatile = map[string]bool{
	audit.AttrChainID: true, audit.AttrPrevHash: true, audit.AttrRecordHash: true, audit.AttrReceivedAt: true,
	audit.AttrQueryHash: true,
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
	require.Equal(t, stable(t, got), stable(t, stored), "run with -update after a change to what the processor stores")
}

// stable is ld's records (resource, body, attributes, and the record audit.record holds) without the volatile
// fields.
func stable(t *testing.T, ld plog.Logs) []map[string]any {
	var out []map[string]any
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				r, err := audit.FromLogRecord(rl.Resource(), lr)
				require.NoError(t, err)
				r.ChainID, r.PrevHash, r.RecordHash, r.ReceivedAt, r.QueryHash = "", "", "", time.Time{}, ""
				attrs := lr.Attributes().AsRaw()
				delete(attrs, audit.AttrRecord)
				for k := range attrs {
					require.False(t, volatile[k], "%s is stamped as an attribute of its own", k)
				}
				out = append(out, map[string]any{
					"resource": rl.Resource().Attributes().AsRaw(), "scope": sl.Scope().Name(),
					"time": lr.Timestamp(), "observed": lr.ObservedTimestamp(), "body": lr.Body().AsRaw(),
					"attributes": attrs, "record": r,
				})
			}
		}
	}
	return out
}
