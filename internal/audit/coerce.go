package audit

// Attribute readers that coerce the mixed value types clients send (used by the record decoder and the governance
// processor's event mapping).

import (
	"math"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Str returns an attribute as a string ("" when absent).
func Str(attrs pcommon.Map, k string) string {
	if v, ok := attrs.Get(k); ok {
		return v.AsString()
	}
	return ""
}

// Int coerces an attribute to an integer: ints as they are, integral doubles, and decimal strings. It returns nil
// when the attribute is absent or not a number.
func Int(attrs pcommon.Map, k string) *int64 {
	if x, ok := IntValue(attrs, k); ok {
		return &x
	}
	return nil
}

// IntValue is Int as a value and whether there is one (for a caller that keeps the number in storage of its own).
func IntValue(attrs pcommon.Map, k string) (int64, bool) {
	v, ok := attrs.Get(k)
	if !ok {
		return 0, false
	}
	var x int64
	switch v.Type() {
	case pcommon.ValueTypeInt:
		x = v.Int()
	case pcommon.ValueTypeDouble:
		d := v.Double()
		if math.IsNaN(d) || math.IsInf(d, 0) || d > math.MaxInt64 || d < math.MinInt64 {
			return 0, false
		}
		x = int64(math.Round(d))
	case pcommon.ValueTypeStr:
		s := strings.TrimSpace(v.Str())
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			f, ferr := strconv.ParseFloat(s, 64)
			if ferr != nil || math.IsNaN(f) || math.IsInf(f, 0) || f > math.MaxInt64 || f < math.MinInt64 {
				return 0, false
			}
			n = int64(math.Round(f))
		}
		x = n
	default:
		return 0, false
	}
	return x, true
}

// Float coerces an attribute to a float: doubles, ints and decimal strings; nil when absent, not a number, NaN or
// infinite.
func Float(attrs pcommon.Map, k string) *float64 {
	if f, ok := FloatValue(attrs, k); ok {
		return &f
	}
	return nil
}

// FloatValue is Float as a value and whether there is one.
func FloatValue(attrs pcommon.Map, k string) (float64, bool) {
	v, ok := attrs.Get(k)
	if !ok {
		return 0, false
	}
	var f float64
	switch v.Type() {
	case pcommon.ValueTypeDouble:
		f = v.Double()
	case pcommon.ValueTypeInt:
		f = float64(v.Int())
	case pcommon.ValueTypeStr:
		var err error
		if f, err = strconv.ParseFloat(strings.TrimSpace(v.Str()), 64); err != nil {
			return 0, false
		}
	default:
		return 0, false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// Bool coerces an attribute to a bool: bools, and the strings true/false/1/0 (any case).
func Bool(attrs pcommon.Map, k string) (value, ok bool) {
	v, present := attrs.Get(k)
	if !present {
		return false, false
	}
	switch v.Type() {
	case pcommon.ValueTypeBool:
		return v.Bool(), true
	case pcommon.ValueTypeStr:
		b, err := strconv.ParseBool(strings.TrimSpace(v.Str()))
		return b, err == nil
	case pcommon.ValueTypeInt:
		return v.Int() != 0, true
	}
	return false, false
}
