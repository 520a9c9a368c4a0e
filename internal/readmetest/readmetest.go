// Package readmetest checks that a component's README tells the truth about its defaults: every row of the
// configuration table whose default is one literal in backticks must equal the default configuration's value.
package readmetest

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/confmap"
)

// row matches "| `key` | `default` | meaning |" in a markdown table (the default cell holds exactly one literal).
var row = regexp.MustCompile("^\\|\\s*`([a-z0-9_.]+)`\\s*\\|\\s*`([^`]*)`\\s*\\|")

// CheckDefaults compares the README's configuration table (the rows under the first heading containing
// "Configuration") with cfg, the component's default configuration, and returns how many rows it checked. Rows
// whose default is not a single backtick literal (a dash, prose) or names an environment variable are not checked.
func CheckDefaults(t testing.TB, readmePath string, cfg any) int {
	t.Helper()
	b, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatalf("reading %s: %v", readmePath, err)
	}
	conf := confmap.New()
	if err := conf.Marshal(cfg); err != nil {
		t.Fatalf("marshalling the default config: %v", err)
	}
	inSection, checked := false, 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "#") {
			if inSection && checked > 0 {
				break
			}
			inSection = strings.Contains(line, "Configuration")
			continue
		}
		m := row.FindStringSubmatch(line)
		if !inSection || m == nil {
			continue
		}
		key, want := m[1], m[2]
		if strings.HasPrefix(want, "$") || strings.HasPrefix(want, "<") { // from the environment, or derived
			continue
		}
		got := conf.Get(strings.ReplaceAll(key, ".", confmap.KeyDelimiter))
		if !equal(got, want) {
			t.Errorf("%s: README says the default of %s is `%s`, the default config has %s", readmePath, key, want, format(got))
		}
		checked++
	}
	if checked == 0 {
		t.Fatalf("%s: no configuration row with a literal default found", readmePath)
	}
	return checked
}

// equal compares a marshalled default with the README's literal: numbers, bools and durations by value, lists as
// [a, b], empty strings as "".
func equal(got any, want string) bool {
	switch g := got.(type) {
	case nil:
		return want == "" || want == `""` || want == "[]" || want == "0" || want == "false"
	case bool:
		return strconv.FormatBool(g) == want
	case string:
		if d, err := time.ParseDuration(g); err == nil {
			w, werr := time.ParseDuration(want)
			return werr == nil && w == d
		}
		return g == want || (g == "" && want == `""`)
	case time.Duration:
		w, err := time.ParseDuration(want)
		return err == nil && w == g
	case []any:
		return format(g) == strings.ReplaceAll(want, ",", ", ") || format(g) == want
	}
	v := reflect.ValueOf(got)
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		w, err := parseSize(want)
		return err == nil && w == v.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		w, err := strconv.ParseUint(strings.ReplaceAll(want, "_", ""), 10, 64)
		return err == nil && w == v.Uint()
	case reflect.Float32, reflect.Float64:
		w, err := strconv.ParseFloat(want, 64)
		return err == nil && w == v.Float()
	case reflect.Slice:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = fmt.Sprint(v.Index(i).Interface())
		}
		return "["+strings.Join(parts, ", ")+"]" == strings.ReplaceAll(strings.ReplaceAll(want, ", ", ","), ",", ", ")
	}
	return fmt.Sprint(got) == want
}

func format(v any) string {
	if s, ok := v.([]any); ok {
		parts := make([]string, len(s))
		for i, x := range s {
			parts[i] = fmt.Sprint(x)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprintf("%v", v)
}

// parseSize reads an integer literal, with _ separators or a binary unit ("1 GiB", "256 MiB", "64 KiB").
func parseSize(s string) (int64, error) {
	mult := int64(1)
	for unit, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if strings.HasSuffix(s, unit) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, unit)), m
			break
		}
	}
	n, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 10, 64)
	return n * mult, err
}
