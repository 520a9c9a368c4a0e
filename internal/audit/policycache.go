package audit

import (
	"strings"
	"sync"
)

// policyDetailsInterned holds decoded policy_details by their compact form (audit.record). A batch's records share a
// handful of outcomes (the same rules evaluated, the same verdicts), and decoding each one and encoding its JSON
// column again was over a quarter of the bytes the Postgres exporter allocated per row. An entry is immutable:
// records decoded from the same compact form share its slices (nothing changes a decoded record's PolicyDetails in
// place; a caller replaces the value), and PolicyDetailsJSON finds the entry's JSON by those slices' identity, so a
// record whose PolicyDetails was replaced is encoded afresh.
var policyDetailsInterned = struct {
	sync.Mutex
	byCompact map[string]*internedPolicyDetails
	byFirst   map[*PolicyResult]*internedPolicyDetails
}{byCompact: map[string]*internedPolicyDetails{}, byFirst: map[*PolicyResult]*internedPolicyDetails{}}

// maxInternedPolicyDetails bounds the table; when full it starts over (records decoded before keep their values and
// are encoded afresh).
const maxInternedPolicyDetails = 1024

type internedPolicyDetails struct {
	pd   PolicyDetails
	json []byte // cap == len: an append by a caller copies
}

// internPolicyDetails returns the interned value of compact form s, decoding it (from a copy of s the entry owns) on
// a miss.
func internPolicyDetails(s string) (PolicyDetails, error) {
	t := &policyDetailsInterned
	t.Lock()
	e := t.byCompact[s]
	t.Unlock()
	if e != nil {
		return e.pd, nil
	}
	key := strings.Clone(s) // the decoded strings alias it: s may be a view of a buffer the caller reuses
	pd, err := decodeCompactPolicyDetails(key)
	if err != nil || len(pd.Evaluated) == 0 {
		return pd, err
	}
	json := pd.AppendJSON(nil)
	e = &internedPolicyDetails{pd: pd, json: json[:len(json):len(json)]}
	t.Lock()
	if len(t.byCompact) >= maxInternedPolicyDetails {
		clear(t.byCompact)
		clear(t.byFirst)
	}
	if prev := t.byCompact[key]; prev != nil { // decoded concurrently: keep one
		e = prev
	} else {
		t.byCompact[key] = e
		t.byFirst[&e.pd.Evaluated[0]] = e
	}
	t.Unlock()
	return e.pd, nil
}

// internedPolicyDetailsJSON is the JSON of pd when pd is an interned value (the same slices), else nil.
func internedPolicyDetailsJSON(pd *PolicyDetails) []byte {
	if len(pd.Evaluated) == 0 {
		return nil
	}
	t := &policyDetailsInterned
	t.Lock()
	e := t.byFirst[&pd.Evaluated[0]]
	t.Unlock()
	if e == nil || !sameSlice(pd.Evaluated, e.pd.Evaluated) || !sameSlice(pd.Matched, e.pd.Matched) ||
		!sameSlice(pd.Reasons, e.pd.Reasons) || pd.TopPolicy != e.pd.TopPolicy {
		return nil
	}
	return e.json
}

// sameSlice says whether a and b are the same slice (the same elements in memory), not merely equal.
func sameSlice[T any](a, b []T) bool {
	return len(a) == len(b) && cap(a) == cap(b) && (len(a) == 0 || &a[0] == &b[0])
}
