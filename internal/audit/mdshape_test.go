package audit_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/audittest"
)

// The metadata writer remembers how it wrote the key sequences it saw (mdshape.go). One LogHasher (and the
// exporters' writer) hashes a stream of records built to catch a stale or wrong shape: the same keys with other
// values and other nested members, keys whose fingerprints collide (same count, lengths, first and last bytes, in
// another order or differing inside), repeated keys, nested objects with the top level's keys, invalid keys, more
// key sequences than it remembers and then the first ones again. Every hash must equal the reference's (and the
// exporters' metadata JSON encoding/json's), in two rounds.
func TestMetadataShapesMatchReference(t *testing.T) {
	base := audittest.GovernedFixture(t)
	record := func(res func(pcommon.Map), attrs func(pcommon.Map)) hashCase {
		ld := plog.NewLogs()
		base.ResourceLogs().At(0).CopyTo(ld.ResourceLogs().AppendEmpty())
		rl := ld.ResourceLogs().At(0)
		lr := rl.ScopeLogs().At(0).LogRecords().At(0)
		chainStamp(lr, 1)
		lr.Attributes().RemoveIf(func(k string, _ pcommon.Value) bool { return !strings.HasPrefix(k, audit.AttrPrefix) })
		rl.Resource().Attributes().Clear()
		if res != nil {
			res(rl.Resource().Attributes())
		}
		attrs(lr.Attributes())
		return hashCase{res: rl.Resource(), lr: lr}
	}
	strs := func(kv ...string) func(pcommon.Map) {
		return func(m pcommon.Map) {
			for i := 0; i+1 < len(kv); i += 2 {
				m.PutStr(kv[i], kv[i+1])
			}
		}
	}
	var cases []hashCase
	add := func(name string, c hashCase) {
		c.name = name
		cases = append(cases, c)
	}
	// The same keys, other values; then the same keys with a nested map whose members differ.
	for i := range 3 {
		add("values", record(strs("svc", fmt.Sprint(i)), strs("b", fmt.Sprint(i), "a", "<&>\u2028"+fmt.Sprint(i), "c", "")))
		add("nested-values", record(nil, func(m pcommon.Map) {
			m.PutStr("a", "x")
			n := m.PutEmptyMap("n")
			for j := range i + 1 {
				n.PutInt(fmt.Sprint("k", 2-j), int64(j))
			}
		}))
	}
	// Colliding fingerprints: the same count, lengths, first and last bytes.
	add("collide-1", record(nil, strs("a1z", "1", "a2z", "2", "a3z", "3")))
	add("collide-2", record(nil, strs("a2z", "1", "a1z", "2", "a3z", "3")))
	add("collide-3", record(nil, strs("a3z", "1", "a2z", "2", "a1z", "3")))
	add("collide-4", record(nil, strs("a9z", "1", "a2z", "2", "a0z", "3")))
	add("collide-1-again", record(nil, strs("a1z", "x", "a2z", "y", "a3z", "z")))
	// Repeated keys (read from OTLP with duplicates, pcommon keeps them: the last is kept), the same sequence twice.
	for i := range 2 {
		add("repeated", record(nil, func(m pcommon.Map) {
			m.PutStr("x", "first")
			ms := pcommon.NewMap()
			ms.FromRaw(map[string]any{"y": i})
			ms.CopyTo(m.PutEmptyMap("y"))
		}))
	}
	add("duplicate-keys", duplicateKeyCases(t)[0])
	add("duplicate-keys-again", duplicateKeyCases(t)[0])
	// A nested map with the keys of the top level, and the top level's keys in a nested map of the resource.
	add("nested-same-keys", record(strs("a", "r", "b", "s"), func(m pcommon.Map) {
		m.PutStr("a", "1")
		m.PutStr("b", "2")
		n := m.PutEmptyMap("c")
		n.PutStr("a", "3")
		n.PutStr("b", "4")
		n.PutEmptyMap("c").PutStr("b", "5")
	}))
	// Keys that are not valid UTF-8 (the fast path declines), then valid keys of the same lengths.
	add("invalid-key", record(nil, strs("k\xff", "v", "kz", "w")))
	add("invalid-key-2", record(nil, strs("k\xfe", "v", "kz", "w")))
	add("valid-key-after", record(nil, strs("ka", "v", "kz", "w")))
	// More key sequences than remembered, then the first again.
	for i := range 80 {
		add("many", record(strs("service.name", "s"), strs(fmt.Sprint("key-", i), "v", "common", fmt.Sprint(i))))
	}
	for i := range 3 {
		add("many-again", record(strs("service.name", "s"), strs(fmt.Sprint("key-", i), "v2", "common", "again")))
	}
	// Empty objects and a content key among the metadata.
	add("empty", record(nil, func(pcommon.Map) {}))
	add("empty-nested", record(nil, func(m pcommon.Map) { m.PutEmptyMap("e"); m.PutStr("prompt", "not metadata") }))

	var h audit.LogHasher
	for round := range 2 {
		for _, c := range cases {
			checkExportDecodes(t, c.res, c.lr)
			want, werr := referenceHash(c)
			got, ok := h.LogRecordHash(c.res, c.lr)
			if werr != nil {
				require.False(t, ok, "%s: the reference refuses it (%v)", c.name, werr)
				continue
			}
			if !ok {
				require.True(t, strings.HasPrefix(c.name, "invalid-key"), "%s: declined", c.name)
				continue
			}
			require.Equal(t, want, got, "%s (round %d)", c.name, round)
		}
	}
}
