package s3decisionexporter

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/govcol/govcol/internal/audit"
)

// TestDecisionCoversFieldTable walks the audit record's field table: every entry is either mapped to Decision JSON
// keys (decisionKeys) or excluded with a reason (decisionExcluded), so adding a column to audit.Fields fails here
// until someone decides whether the published decision object carries it.
func TestDecisionCoversFieldTable(t *testing.T) {
	keys := decisionJSONKeys(reflect.TypeFor[Decision](), "")
	entries := map[string]bool{}
	for _, f := range audit.Fields {
		name := f.Column
		if name == "" {
			name = f.Attr
		}
		entries[name] = true
		mapped, isMapped := decisionKeys[name]
		reason, isExcluded := decisionExcluded[name]
		switch {
		case isMapped && isExcluded:
			t.Errorf("field %q is both mapped to %v and excluded (%s)", name, mapped, reason)
		case !isMapped && !isExcluded:
			t.Errorf("field %q of audit.Fields is neither mapped to Decision JSON keys (decisionKeys in decision.go) "+
				"nor excluded with a reason (decisionExcluded): decide whether schema v2 objects carry it", name)
		case isMapped && len(mapped) == 0:
			t.Errorf("field %q is mapped to no JSON key", name)
		case isExcluded && strings.TrimSpace(reason) == "":
			t.Errorf("field %q is excluded without a reason", name)
		}
		for _, k := range mapped {
			if !keys[k] {
				t.Errorf("field %q is mapped to %q, which is not a JSON key of Decision", name, k)
			}
		}
	}
	for name := range decisionKeys {
		if !entries[name] {
			t.Errorf("decisionKeys names %q, which is not an entry of audit.Fields", name)
		}
	}
	for name := range decisionExcluded {
		if !entries[name] {
			t.Errorf("decisionExcluded names %q, which is not an entry of audit.Fields", name)
		}
	}
	// The other way round: every key of the object comes from the table, but the version itself.
	reached := map[string]bool{"schema_version": true}
	for _, ks := range decisionKeys {
		for _, k := range ks {
			reached[k] = true
		}
	}
	for k := range keys {
		if !reached[k] {
			t.Errorf("Decision JSON key %q is filled from no entry of audit.Fields (decisionKeys)", k)
		}
	}
}

// decisionJSONKeys returns the JSON keys of a struct type, nested members dotted (policy_details.context.x_session_id).
func decisionJSONKeys(typ reflect.Type, prefix string) map[string]bool {
	out := map[string]bool{}
	for i := range typ.NumField() {
		sf := typ.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		ft := sf.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft != reflect.TypeFor[time.Time]() {
			// Only the leaves are keys a table entry fills.
			for k := range decisionJSONKeys(ft, prefix+name+".") {
				out[k] = true
			}
			continue
		}
		out[prefix+name] = true
	}
	return out
}

// TestDecisionJSONKeysWalk checks the walk itself, so a walk that missed keys or listed objects as leaves could not
// let the coverage test above pass vacuously.
func TestDecisionJSONKeysWalk(t *testing.T) {
	keys := decisionJSONKeys(reflect.TypeFor[Decision](), "")
	for _, k := range []string{"decision_id", "latency_ms", "policy_details.context.x_session_id", "policy_details.matched", "timestamp"} {
		if !keys[k] {
			t.Errorf("walk misses %q", k)
		}
	}
	if keys["policy_details"] || keys["policy_details.context"] {
		t.Error("walk lists an object member as a leaf")
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	slices.Sort(sorted)
	t.Logf("%d keys: %s", len(sorted), strings.Join(sorted, " "))
}
