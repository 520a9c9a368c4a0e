package governanceprocessor // import "github.com/govcol/govcol/processor/governanceprocessor"

import (
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// Reasons a log record is dropped before governance (reported, counted; the rest of the batch continues).
const (
	dropTooManyAttributes = "too_many_attributes"
	dropTooDeep           = "too_deep"
)

// checkLimits reports why lr exceeds the configured limits: more values (attributes, counted recursively into maps
// and slices, plus the body's) than max_attributes_per_record, or nesting deeper than max_value_depth.
func (g *governor) checkLimits(lr plog.LogRecord) string {
	budget := g.cfg.MaxAttributesPerRecord
	count := lr.Attributes().Len()
	if count > budget {
		return dropTooManyAttributes
	}
	tooDeep := false
	var walk func(v pcommon.Value, depth int)
	walk = func(v pcommon.Value, depth int) {
		if tooDeep || count > budget {
			return
		}
		if depth > g.cfg.MaxValueDepth {
			tooDeep = true
			return
		}
		switch v.Type() {
		case pcommon.ValueTypeMap:
			count += v.Map().Len()
			for _, x := range v.Map().All() {
				walk(x, depth+1)
			}
		case pcommon.ValueTypeSlice:
			count += v.Slice().Len()
			for i := range v.Slice().Len() {
				walk(v.Slice().At(i), depth+1)
			}
		}
	}
	for _, v := range lr.Attributes().All() {
		walk(v, 1)
	}
	walk(lr.Body(), 1)
	switch {
	case tooDeep:
		return dropTooDeep
	case count > budget:
		return dropTooManyAttributes
	}
	return ""
}

// sanitizeMap makes every string and key of m storable: invalid UTF-8 and NUL (which Postgres text and jsonb refuse)
// become U+FFFD. It runs before hashing and masking, so what is stored is what was hashed.
func sanitizeMap(m pcommon.Map) {
	var bad []string
	for k, v := range m.All() {
		if !storable(k) {
			bad = append(bad, k)
		}
		sanitizeValue(v)
	}
	for _, k := range bad {
		v, _ := m.Get(k)
		nv := pcommon.NewValueEmpty()
		v.CopyTo(nv)
		m.Remove(k)
		nv.CopyTo(m.PutEmpty(toStorable(k)))
	}
}

func sanitizeValue(v pcommon.Value) {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		if s := v.Str(); !storable(s) {
			v.SetStr(toStorable(s))
		}
	case pcommon.ValueTypeMap:
		sanitizeMap(v.Map())
	case pcommon.ValueTypeSlice:
		for i := range v.Slice().Len() {
			sanitizeValue(v.Slice().At(i))
		}
	}
}

func storable(s string) bool { return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 }

func toStorable(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}
