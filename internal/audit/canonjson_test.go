package audit

import (
	"bytes"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The scanner agrees with the decode-sort-re-encode definition, on hand-made documents (jsonb-style spacing and key
// order, escapes, numbers, duplicates) and on every JSON document of the fixtures.
func TestCanonicalJSONScannerMatchesReference(t *testing.T) {
	docs := []string{
		`{}`, `[]`, `null`, `true`, `-0`, `0`, `12`, `-7`, `1.5`, `1e2`, `1E+2`, `-0.0`, `0.1`, `123456789012345678901234567890`,
		`"plain"`, `"tab\there"`, `"\u00e9t\u00e9"`, `"été"`, `"<b>&amp;"`, `"quote \" and \\ slash"`, `"\ud83d\ude00"`,
		`{"b": 1, "a": [1e2, 0.50, -3, {"z": null, "y": true}]}`,
		`{"a":1,"a":2}`, `{"b":1,"a":2,"b":3}`,
		`{"key with space": "v", "ключ": "значение", "k\"q": 1}`,
		`{"is_error": false, "nested": {"list": [], "map": {}}, "n": -12.25e-3}`,
		"  {\n \"x\" : [ 1 , 2 ] }  ",
	}
	for _, f := range []string{"logs.json", "traces.json", "metrics.json"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "claude-code-2.1.330", f))
		require.NoError(t, err)
		docs = append(docs, string(b))
	}
	for _, d := range docs {
		want, err := canonicalJSONReference([]byte(d))
		require.NoError(t, err, d)
		got, err := CanonicalJSON([]byte(d))
		require.NoError(t, err, d)
		assert.Equal(t, want, got, d)
	}
	for _, bad := range []string{``, `{`, `{"a"}`, `{"a":}`, `[1,]`, `"open`, `tru`, `{"a":1}x`, `--1`, `1.2.3`} {
		_, err := CanonicalJSON([]byte(bad))
		assert.Error(t, err, bad)
	}
}

func FuzzCanonicalJSON(f *testing.F) {
	for _, s := range []string{`{"b":1,"a":[1e2,"x"]}`, `"\u00e9"`, `-0`, `[{"a":{"b":null}}]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want, werr := canonicalJSONReference(b)
		got, gerr := CanonicalJSON(b)
		if werr != nil {
			return // the scanner may accept a superset of syntax errors' shapes only if it fails too
		}
		if gerr != nil {
			t.Fatalf("scanner refused valid JSON %q: %v", b, gerr)
		}
		if want != got {
			t.Fatalf("%q: scanner %q, reference %q", b, got, want)
		}
	})
}

// canonicalJSONReference is the straightforward definition of CanonicalJSON (decode, sort, re-encode), kept to test
// the scanner against.
func canonicalJSONReference(raw []byte) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", err
	}
	if len(bytes.Trim(raw[dec.InputOffset():], " \t\r\n")) > 0 {
		return "", errJSONTrailing
	}
	var b strings.Builder
	writeCanonical(&b, v)
	return b.String(), nil
}

func writeCanonical(b *strings.Builder, v any) {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case json.Number:
		if r, ok := new(big.Rat).SetString(string(x)); ok {
			b.WriteString(r.RatString())
		} else {
			b.WriteString(string(x))
		}
	case string:
		q, _ := json.Marshal(x)
		b.Write(q)
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			writeCanonical(b, e)
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			q, _ := json.Marshal(k)
			b.Write(q)
			b.WriteByte(':')
			writeCanonical(b, x[k])
		}
		b.WriteByte('}')
	}
}
