package audit

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

func internTestRecord(top string) Record {
	return Record{PolicyDetails: PolicyDetails{
		Evaluated: []PolicyResult{
			{ID: "sys_secret_in_tool_input", Matched: true, Verdict: "blocked", Severity: "critical", Reason: "secret \"in\" input"},
			{ID: "sys_pii", Verdict: "allowed", Severity: "low"},
		},
		Matched:   []string{"sys_secret_in_tool_input"},
		Reasons:   []string{"a secret was found"},
		TopPolicy: top,
	}}
}

func TestInternedPolicyDetailsAreSharedAndEncodeAsFresh(t *testing.T) {
	want := internTestRecord("sys_secret_in_tool_input")
	fresh := want.PolicyDetails.AppendJSON(nil)
	compact := compactPolicyDetails(nil, &want)

	// Decoded from a buffer the caller then reuses: the interned value must not alias it.
	buf := append([]byte(nil), compact...)
	var a, b Record
	require.NoError(t, expandPolicyDetails(&a, unsafe.String(&buf[0], len(buf))))
	for i := range buf {
		buf[i] = 'x'
	}
	require.NoError(t, expandPolicyDetails(&b, string(compact)))
	require.Equal(t, want.PolicyDetails, a.PolicyDetails)
	require.Equal(t, want.PolicyDetails, b.PolicyDetails)
	require.True(t, sameSlice(a.PolicyDetails.Evaluated, b.PolicyDetails.Evaluated), "one decoded value for one compact form")
	ja, jb := a.PolicyDetailsJSON(), b.PolicyDetailsJSON()
	require.Equal(t, string(fresh), string(ja))
	require.Equal(t, &ja[0], &jb[0], "the JSON is encoded once")

	// A caller appending to the column's bytes gets its own copy.
	require.Equal(t, len(ja), cap(ja))

	// A record whose PolicyDetails was replaced (even with the same contents) is encoded from its own value.
	c := b
	c.PolicyDetails = internTestRecord("other").PolicyDetails
	require.Contains(t, string(c.PolicyDetailsJSON()), `"other"`)
	c.PolicyDetails.Evaluated = append([]PolicyResult(nil), b.PolicyDetails.Evaluated...)
	c.PolicyDetails.TopPolicy = b.PolicyDetails.TopPolicy
	c.PolicyDetails.Evaluated[0].Reason = "changed"
	require.Contains(t, string(c.PolicyDetailsJSON()), `"changed"`)
}

func TestInternedPolicyDetailsTableIsBounded(t *testing.T) {
	for i := range 3 * maxInternedPolicyDetails {
		r := internTestRecord(string(rune('a'+i%26)) + string(rune(i)))
		var got Record
		require.NoError(t, expandPolicyDetails(&got, string(compactPolicyDetails(nil, &r))))
		require.Equal(t, string(r.PolicyDetails.AppendJSON(nil)), string(got.PolicyDetailsJSON()))
	}
	policyDetailsInterned.Lock()
	defer policyDetailsInterned.Unlock()
	require.LessOrEqual(t, len(policyDetailsInterned.byCompact), maxInternedPolicyDetails)
	require.Equal(t, len(policyDetailsInterned.byCompact), len(policyDetailsInterned.byFirst))
}
