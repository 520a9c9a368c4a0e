package audit_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/audittest"
)

// exportCases are the records the exporters' decodes are checked on: every fixture record (as stamped now, in the
// attribute form stamped before audit.record, chained) and the edge cases of the hash tests.
func exportCases(t testing.TB) []hashCase {
	governed := audittest.GovernedFixture(t)
	cases := fixtureCases("governed", governed)
	attributeForm := audittest.GovernedFixture(t)
	require.NoError(t, audit.ToAttributeForm(attributeForm))
	cases = append(cases, fixtureCases("attribute-form", attributeForm)...)
	cases = append(cases, fixtureCases("raw", audittest.Raw(t, 3600))...)
	return append(cases, edgeCases(t)...)
}

// sameJSON reports whether a (written by FromLogRecordForStore's encoder) is b (written by encoding/json), byte for
// byte.
func sameJSON(a, b []byte) bool { return bytes.Equal(a, b) }

// FromLogRecordForStore gives the record FromLogRecord gives, with the metadata column encoded straight from the
// attributes: the same JSON as json.Marshal of FromLogRecord's map, byte for byte, the same record_hash, the same
// record written to a file (the fallback), and a file line that reads back as FromLogRecord's record.
func TestFromLogRecordForStoreMatchesFromLogRecord(t *testing.T) {
	direct := 0
	for _, c := range exportCases(t) {
		want, werr := audit.FromLogRecord(c.res, c.lr)
		got, err := audit.FromLogRecordForStore(c.res, c.lr)
		if werr != nil {
			require.Error(t, err, c.name)
			assert.Equal(t, werr.Error(), err.Error(), c.name)
			continue
		}
		require.NoError(t, err, c.name)
		if got.Metadata == nil {
			direct++
		}
		require.True(t, sameJSON(got.MetadataJSON(), want.MetadataJSON()), "%s:\n%s\n%s", c.name, got.MetadataJSON(), want.MetadataJSON())
		assert.Equal(t, want.StoredJSON().PolicyDetails, got.StoredJSON().PolicyDetails, c.name)
		wh, werr := want.ComputeHash()
		gh, err := got.ComputeHash()
		require.Equal(t, werr == nil, err == nil, c.name)
		assert.Equal(t, wh, gh, c.name)

		wj, werr := json.Marshal(want)
		gj, err := json.Marshal(got)
		if werr != nil { // a cost of NaN or ±Inf
			require.Error(t, err, c.name)
			continue
		}
		require.NoError(t, err, c.name)
		require.True(t, sameJSON(gj, wj), "%s:\n%s\n%s", c.name, gj, wj)
		var back audit.Record
		require.NoError(t, json.Unmarshal(gj, &back), c.name)
		var wback audit.Record
		require.NoError(t, json.Unmarshal(wj, &wback), c.name)
		assert.Equal(t, wback, back, c.name)
	}
	assert.Greater(t, direct, 100, "the fixture records take the direct encoding")
}

// A Record without the direct encoding marshals as encoding/json marshals its fields, HTML escaping as the caller's
// encoder says.
func TestRecordMarshalJSONUnchanged(t *testing.T) {
	type plain audit.Record // no MarshalJSON
	r := audit.Record{ID: "a<b>&", Timestamp: time.Unix(1, 2).UTC(), Metadata: map[string]any{"k": "<&>", "n": 1.5}}
	for _, escape := range []bool{true, false} {
		var a, b bytes.Buffer
		ea, eb := json.NewEncoder(&a), json.NewEncoder(&b)
		ea.SetEscapeHTML(escape)
		eb.SetEscapeHTML(escape)
		require.NoError(t, ea.Encode(r))
		require.NoError(t, eb.Encode((*plain)(&r)))
		assert.Equal(t, b.String(), a.String())
	}
}

// FromLogRecordForDecision gives FromLogRecordAnyTime's record with only the stamped extras in metadata.
func TestFromLogRecordForDecision(t *testing.T) {
	cases := exportCases(t)
	bad := audittest.GovernedFixture(t)
	for _, c := range fixtureCases("bad-time", bad) {
		c.lr.Attributes().PutStr(audit.AttrTimestamp, "yesterday")
		cases = append(cases, c)
	}
	extras := map[string]bool{"event_name": true, "license_id": true, "license_tier": true, "attempted_user_email": true}
	events := 0
	for _, c := range cases {
		want, wraw, werr := audit.FromLogRecordAnyTime(c.res, c.lr)
		got, raw, err := audit.FromLogRecordForDecision(c.res, c.lr)
		assert.Equal(t, wraw, raw, c.name)
		if werr != nil {
			require.Error(t, err, c.name)
			assert.Equal(t, werr.Error(), err.Error(), c.name)
			continue
		}
		require.NoError(t, err, c.name)
		for k, v := range want.Metadata {
			if extras[k] {
				assert.Equal(t, v, got.Metadata[k], "%s: %s", c.name, k)
			}
		}
		for k := range got.Metadata {
			assert.True(t, extras[k], "%s: %s", c.name, k)
		}
		if got.Metadata["event_name"] != nil {
			events++
		}
		want.Metadata, got.Metadata = nil, nil
		assert.Equal(t, want, got, c.name)
	}
	assert.Greater(t, events, 100)
}

// A bytes value or a key that is not valid UTF-8 makes the direct encoding decline: the record gets the map.
func TestFromLogRecordForStoreDeclines(t *testing.T) {
	ld := audittest.GovernedFixture(t)
	rl := ld.ResourceLogs().At(0)
	lr := rl.ScopeLogs().At(0).LogRecords().At(0)
	lr.Attributes().PutEmptyBytes("blob").FromRaw([]byte{1, 2})
	got, err := audit.FromLogRecordForStore(rl.Resource(), lr)
	require.NoError(t, err)
	want, err := audit.FromLogRecord(rl.Resource(), lr)
	require.NoError(t, err)
	assert.Equal(t, want.Metadata, got.Metadata)
	assert.Equal(t, string(want.MetadataJSON()), string(got.MetadataJSON()))
}

// checkExportDecodes compares the exporters' decodes with FromLogRecord on one record (the fuzz targets).
func checkExportDecodes(t *testing.T, res pcommon.Resource, lr plog.LogRecord) {
	want, werr := audit.FromLogRecord(res, lr)
	got, err := audit.FromLogRecordForStore(res, lr)
	_, _, _ = audit.FromLogRecordForDecision(res, lr)
	if (werr == nil) != (err == nil) {
		t.Fatalf("FromLogRecord: %v, FromLogRecordForStore: %v", werr, err)
	}
	if werr != nil {
		return
	}
	if !sameJSON(got.MetadataJSON(), want.MetadataJSON()) {
		t.Fatalf("metadata %s, want %s", got.MetadataJSON(), want.MetadataJSON())
	}
}
