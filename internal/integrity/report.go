package integrity

import "github.com/govcol/govcol/internal/audit"

// Report is the outcome for every chain of a stored trail.
type Report struct {
	Chains []ChainReport `json:"chains"`
	// Registered counts the chains with a valid "opened" entry in the chain registry (0: a trail written before the
	// registry, whose chains are not required to be registered).
	Registered int `json:"registered_chains"`
}

// OK reports whether every chain verified.
func (r *Report) OK() bool {
	for i := range r.Chains {
		if !r.Chains[i].OK() {
			return false
		}
	}
	return true
}

// Records is the number of records checked.
func (r *Report) Records() int {
	n := 0
	for i := range r.Chains {
		n += r.Chains[i].Records
	}
	return n
}

// EntryHasher checks stored records against their record_hash, memoising the canonical form of the JSON column
// values it has seen (bounded) and reusing its buffer. Not safe for concurrent use: one per goroutine.
type EntryHasher struct {
	memo map[string][]byte
	buf  []byte
}

// memoLimit bounds the memo (distinct JSON values, each well under the column caps); it is emptied when full.
const memoLimit = 4096

func (h *EntryHasher) canonical(raw []byte) ([]byte, error) {
	if c, ok := h.memo[string(raw)]; ok {
		return c, nil
	}
	c, err := audit.CanonicalJSON(raw)
	if err != nil {
		return nil, err
	}
	if h.memo == nil || len(h.memo) >= memoLimit {
		h.memo = make(map[string][]byte, memoLimit)
	}
	h.memo[string(raw)] = []byte(c)
	return []byte(c), nil
}

// Matches reports whether e's stored content hashes to its record_hash.
func (h *EntryHasher) Matches(e *Entry) bool {
	var js audit.StoredJSON
	var err error
	for _, p := range []struct {
		dst *[]byte
		src []byte
	}{{&js.PolicyDetails, e.JSON.PolicyDetails}, {&js.Obligations, e.JSON.Obligations}, {&js.ComplianceFlags, e.JSON.ComplianceFlags},
		{&js.SecurityMetrics, e.JSON.SecurityMetrics}, {&js.Metadata, e.JSON.Metadata}} {
		if *p.dst, err = h.canonical(p.src); err != nil {
			return false
		}
	}
	h.buf, err = e.Record.AppendCanonicalPrepared(h.buf[:0], &js)
	if err != nil {
		return false
	}
	return audit.HashOf(h.buf) == e.Record.RecordHash
}
