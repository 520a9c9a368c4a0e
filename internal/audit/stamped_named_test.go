package audit_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/govcol/govcol/internal/audit"
)

// testdata/stamped-named-values.json is the governed fixture as stamped before the named fields were left out of
// audit.record (their values in audit.record and in their attributes). Such records may wait in a queue or a fallback
// file across an upgrade: they decode and hash as the same records stamped today, whose audit.record is shorter.
func TestStampedWithNamedValuesDecodes(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "stamped-named-values.json"))
	require.NoError(t, err)
	ld, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(b)
	require.NoError(t, err)
	checked := 0
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				old, _ := lr.Attributes().Get(audit.AttrRecord)
				rt := audit.Str(lr.Attributes(), audit.AttrRequestType)
				require.NotEmpty(t, rt)
				require.True(t, bytes.Contains(old.Bytes().AsRaw(), []byte(rt)), "the stored record holds the named values")
				want, err := audit.FromLogRecord(rl.Resource(), lr)
				require.NoError(t, err)
				var h audit.LogHasher
				wantHash, ok := h.LogRecordHash(rl.Resource(), lr)
				require.True(t, ok)

				restamped := plog.NewLogRecord()
				lr.CopyTo(restamped)
				restamped.Attributes().RemoveIf(func(k string, _ pcommon.Value) bool { return len(k) > 6 && k[:6] == audit.AttrPrefix })
				str := func(k string) string { s, _ := want.Metadata[k].(string); return s }
				want.WriteAttributes(restamped.Attributes(), audit.Extra{Event: str("event_name"), LicenseID: str("license_id"),
					Tier: str("license_tier"), AttemptedUserEmail: str("attempted_user_email"), PolicyLabel: audit.PolicyLabel(want.PolicyDetails.TopPolicy)})
				now, _ := restamped.Attributes().Get(audit.AttrRecord)
				require.Less(t, now.Bytes().Len(), old.Bytes().Len())
				require.False(t, bytes.Contains(now.Bytes().AsRaw(), []byte(rt)), "the named values travel as attributes only")

				got, err := audit.FromLogRecord(rl.Resource(), restamped)
				require.NoError(t, err)
				require.Equal(t, want, got)
				gotHash, ok := h.LogRecordHash(rl.Resource(), restamped)
				require.True(t, ok)
				require.Equal(t, wantHash, gotHash)
				ref, err := got.ComputeHash()
				require.NoError(t, err)
				require.Equal(t, wantHash, ref)
				checked++
			}
		}
	}
	require.Equal(t, 11, checked)
}
