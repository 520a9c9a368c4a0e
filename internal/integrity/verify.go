package integrity

import (
	"fmt"
	"runtime"
	"sort"
	"sync"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/license"
)

// Failure kinds reported by Verify.
const (
	// KindModified: a record's content no longer matches its record_hash, or the hash a checkpoint signed.
	KindModified = "modified"
	// KindInserted: a record that does not belong to the chain (it does not link to its predecessor, or two records
	// claim one sequence number).
	KindInserted = "inserted"
	// KindReordered: records are intact but their sequence numbers were permuted.
	KindReordered = "reordered"
	// KindDeleted: a gap in chain_seq, or records a checkpoint covers are missing at the tail.
	KindDeleted = "deleted"
	// KindBadSignature: a checkpoint whose signature does not verify with any known key.
	KindBadSignature = "bad_signature"
	// KindUncoveredTail: records after the last valid checkpoint (nothing signed vouches for them).
	KindUncoveredTail = "uncovered_tail"
	// KindUnregistered: a chain with records or checkpoints but no signed "opened" entry in the chain registry.
	KindUnregistered = "unregistered"
	// KindUnchained: records with no chain (chain_id NULL): the governance processor chains every record it stores.
	KindUnchained = "unchained"
)

// Entry is one chain position as stored: the record (from audit_logs, or rebuilt from the stored record and a chain
// link of a re-delivery) and its JSON columns as stored.
type Entry struct {
	Record audit.Record
	JSON   audit.StoredJSON
}

// Failure is the first problem found in a chain.
type Failure struct {
	Kind     string `json:"kind"`
	Seq      int64  `json:"seq"`
	RecordID string `json:"record_id,omitempty"`
	Detail   string `json:"detail"`
}

// ChainReport is the outcome for one chain.
type ChainReport struct {
	ChainID     string `json:"chain_id"`
	TenantID    string `json:"tenant_id"`
	Records     int    `json:"records_checked"`
	FirstSeq    int64  `json:"first_seq"`
	LastSeq     int64  `json:"last_seq"`
	CoveredTo   int64  `json:"covered_to"`
	Checkpoints int    `json:"checkpoints"`
	// Withdrawn counts the sequence numbers the checkpoints list as withdrawn (delivery refused, never stored).
	Withdrawn int64 `json:"withdrawn,omitempty"`
	// Registered: the chain has a valid "opened" entry in the chain registry.
	Registered bool `json:"registered"`
	// Sealed: a later run of the collector instance sealed the chain's tail after a crash.
	Sealed bool `json:"sealed,omitempty"`
	// Lost names the sequence numbers a seal lists as never stored (in flight at a crash) that are indeed missing.
	Lost Ranges `json:"lost,omitempty"`
	// Retained counts the missing sequence numbers signed retention markers account for.
	Retained int64 `json:"retained,omitempty"`
	// Failures holds the problems found (at most 1,000, FailuresOmitted counts the rest), in sequence order.
	Failures        []Failure `json:"failures,omitempty"`
	FailuresOmitted int       `json:"failures_omitted,omitempty"`
	// Warnings are findings that are not failures (a chain the decision store has no checkpoint object of).
	Warnings []string `json:"warnings,omitempty"`
}

// OK reports whether the chain verified.
func (r *ChainReport) OK() bool { return len(r.Failures) == 0 }

// mismatches returns the positions whose record does not match its record_hash, hashing on every CPU.
func mismatches(entries []Entry) []int {
	workers := min(runtime.GOMAXPROCS(0), max(1, len(entries)/256))
	found := make([][]int, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(entries); i += workers {
				h, err := HashEntry(&entries[i], entries[i].Record.ChainSeq)
				if err != nil || h != entries[i].Record.RecordHash {
					found[w] = append(found[w], i)
				}
			}
		}()
	}
	wg.Wait()
	var out []int
	for _, f := range found {
		out = append(out, f...)
	}
	return out
}

// HashEntry is the record_hash of e stored at sequence number seq (its own, or another to tell a moved record).
func HashEntry(e *Entry, seq int64) (string, error) {
	rec := e.Record
	rec.ChainSeq = seq
	b, err := rec.CanonicalWithJSON(e.JSON)
	if err != nil {
		return "", err
	}
	return audit.HashOf(b), nil
}

// Evidence is what is signed about a chain besides its records: checkpoints, the seals of later runs (registry
// entries of kind "sealed") and retention markers. Anchored (a --since window) trusts the first record checked as
// the chain's anchor; otherwise a chain must start at sequence number 1 or at a gap a retention marker accounts for.
type Evidence struct {
	Checkpoints []Checkpoint
	Seals       []RegistryEntry
	Markers     []RetentionMarker
	Anchored    bool
}

// VerifyChain checks one chain held in memory from its first record (number 1): every record's hash, the links
// between consecutive records, gaps, the checkpoints' signatures and that they sign what is stored, and that the
// tail is covered.
func VerifyChain(entries []Entry, cps []Checkpoint, keys license.KeySet) ChainReport {
	return VerifyChainWith(entries, Evidence{Checkpoints: cps}, keys)
}

// VerifyChainWith is VerifyChain with every kind of evidence.
func VerifyChainWith(entries []Entry, ev Evidence, keys license.KeySet) ChainReport {
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].Record.ChainSeq < entries[j].Record.ChainSeq })
	v := NewChainVerifier("", "", ev, keys)
	bad := map[int]bool{}
	for _, i := range mismatches(entries) {
		bad[i] = true
	}
	for i := range entries {
		v.Add(&entries[i], !bad[i])
	}
	return v.Finish()
}

// maxFailures bounds the failures kept per chain (the rest are counted): a report stays small whatever was done to
// the chain, and so does verification's memory.
const maxFailures = 1000

// maxBadKept bounds the records kept to tell moved (reordered) records from changed ones.
const maxBadKept = 4096

// ChainVerifier checks one chain from its records given in ascending sequence order (ties allowed), one at a time,
// each with the outcome of its own hash check: verification streams, holding only the previous record, the
// evidence and the failures.
type ChainVerifier struct {
	rep  ChainReport
	keys license.KeySet
	ev   Evidence

	signed                     map[int64]string // sequence number -> record_hash vouched for by a checkpoint or seal
	withdrawn, lost, retention Ranges
	allowed                    Ranges // gaps accounted for: withdrawn, lost, retention
	lostSeen, retainedSeen     Ranges

	n        int
	prevSeq  int64
	prevHash string
	prevID   string
	prevBad  bool
	bad      []Entry // records that do not match their own hash (at most maxBadKept)
	badCount int
	missing  int64 // sequence numbers missing after the covered part (the uncovered tail)
	omitted  int
}

func NewChainVerifier(chainID, tenant string, ev Evidence, keys license.KeySet) *ChainVerifier {
	v := &ChainVerifier{keys: keys, ev: ev, signed: map[int64]string{}}
	v.rep.ChainID, v.rep.TenantID, v.rep.Checkpoints = chainID, tenant, len(ev.Checkpoints)
	if chainID == "" {
		if len(ev.Checkpoints) > 0 {
			v.rep.ChainID, v.rep.TenantID = ev.Checkpoints[0].ChainID, ev.Checkpoints[0].TenantID
		}
	}
	cps := ev.Checkpoints
	sort.Slice(cps, func(i, j int) bool { return cps[i].LastSeq < cps[j].LastSeq })
	for i := range cps {
		cp := &cps[i]
		if err := cp.VerifySignature(keys); err != nil {
			v.fail(KindBadSignature, cp.LastSeq, "", "checkpoint at %d: %v", cp.LastSeq, err)
			continue
		}
		for _, w := range cp.Withdrawn {
			v.withdrawn.AddRange(w[0], w[1])
		}
		v.vouch(cp.LastSeq, cp.LastHash)
	}
	for i := range ev.Seals {
		s := &ev.Seals[i]
		if err := s.Verify(keys); err != nil || s.Kind != RegistrySealed {
			v.fail(KindBadSignature, s.Seq, "", "seal at %d: %v", s.Seq, err)
			continue
		}
		for _, l := range s.Lost {
			v.lost.AddRange(l[0], l[1])
		}
		v.rep.Sealed = true
		v.vouch(s.Seq, s.Link)
	}
	for i := range ev.Markers {
		m := &ev.Markers[i]
		if err := m.Verify(keys); err != nil {
			v.fail(KindBadSignature, m.FromSeq, "", "retention marker %d..%d: %v", m.FromSeq, m.ToSeq, err)
			continue
		}
		v.retention.AddRange(m.FromSeq, m.ToSeq)
	}
	for _, rs := range []Ranges{v.withdrawn, v.lost, v.retention} {
		for _, r := range rs {
			v.allowed.AddRange(r[0], r[1])
		}
	}
	v.rep.Withdrawn = v.withdrawn.Count()
	return v
}

func (v *ChainVerifier) vouch(seq int64, hash string) {
	if seq > 0 {
		if h, ok := v.signed[seq]; ok && h != hash {
			v.fail(KindModified, seq, "", "two signed statements disagree on record %d", seq)
		}
		v.signed[seq] = hash
	}
	v.rep.CoveredTo = max(v.rep.CoveredTo, seq)
}

func (v *ChainVerifier) fail(kind string, seq int64, id, format string, args ...any) {
	if len(v.rep.Failures) >= maxFailures {
		v.omitted++
		return
	}
	v.rep.Failures = append(v.rep.Failures, Failure{Kind: kind, Seq: seq, RecordID: id, Detail: fmt.Sprintf(format, args...)})
}

// gap accounts for the missing sequence numbers [lo, hi] after record prev (0: before the first record).
func (v *ChainVerifier) gap(prev, lo, hi int64) {
	if lo > hi {
		return
	}
	if v.allowed.Contains(lo, hi) {
		v.lostSeen = v.lostSeen.union(v.lost.within(lo, hi))
		v.retainedSeen = v.retainedSeen.union(v.retention.within(lo, hi))
		return
	}
	if prev >= v.rep.CoveredTo {
		// after the last signed record: part of the uncovered tail (a crash loses the records in flight there)
		v.missing += hi - lo + 1
		return
	}
	if prev == 0 {
		v.fail(KindDeleted, lo, "", "records %d..%d are missing: the head of the chain was removed (no retention marker accounts for it)", lo, hi)
		return
	}
	v.fail(KindDeleted, lo, "", "records %d..%d are missing", lo, hi)
}

// Add checks the next record (sequence order); hashOK is whether it matches its own record_hash.
func (v *ChainVerifier) Add(e *Entry, hashOK bool) {
	r := &e.Record
	if v.rep.ChainID == "" {
		v.rep.ChainID, v.rep.TenantID = r.ChainID, r.TenantID
	}
	if !hashOK {
		v.badCount++
		if len(v.bad) < maxBadKept {
			v.bad = append(v.bad, *e)
		} else {
			v.fail(KindModified, r.ChainSeq, r.ID, "record %s does not match its record_hash", r.ID)
		}
	}
	if v.n == 0 {
		v.rep.FirstSeq = r.ChainSeq
		switch {
		case v.ev.Anchored:
		case r.ChainSeq == 1 && r.PrevHash != "" && hashOK:
			v.fail(KindInserted, r.ChainSeq, r.ID, "the first record of the chain links to a predecessor")
		case r.ChainSeq > 1:
			v.gap(0, 1, r.ChainSeq-1)
		}
	} else {
		switch {
		case r.ChainSeq == v.prevSeq:
			v.fail(KindInserted, r.ChainSeq, r.ID, "two records (%s, %s) claim sequence number %d", v.prevID, r.ID, r.ChainSeq)
		case r.ChainSeq > v.prevSeq+1:
			v.gap(v.prevSeq, v.prevSeq+1, r.ChainSeq-1)
		case r.PrevHash != v.prevHash && hashOK && !v.prevBad:
			v.fail(KindInserted, r.ChainSeq, r.ID, "record %s does not link to record %d", r.ID, v.prevSeq)
		}
	}
	if h, ok := v.signed[r.ChainSeq]; ok && h != r.RecordHash && (v.n == 0 || r.ChainSeq != v.prevSeq) {
		v.fail(KindModified, r.ChainSeq, r.ID, "record %d is not the one the checkpoint signed", r.ChainSeq)
	}
	v.n++
	v.prevSeq, v.prevHash, v.prevID, v.prevBad = r.ChainSeq, r.RecordHash, r.ID, !hashOK
}

// Finish reports the tail and the records that failed their hash (moved or modified), the failures in sequence
// order.
func (v *ChainVerifier) Finish() ChainReport {
	rep := &v.rep
	rep.Records = v.n
	if v.n > 0 {
		rep.LastSeq = v.prevSeq
	}
	// Records a checkpoint or seal vouched for beyond the last one stored.
	if rep.CoveredTo > rep.LastSeq {
		lo := rep.LastSeq + 1
		if !v.allowed.Contains(lo, rep.CoveredTo) {
			if v.n == 0 {
				v.fail(KindDeleted, lo, "", "signed statements cover %d records but none is stored", rep.CoveredTo)
			} else {
				v.fail(KindDeleted, lo, "", "a checkpoint signs %d records but the chain stops at %d", rep.CoveredTo, rep.LastSeq)
			}
		} else {
			v.lostSeen = v.lostSeen.union(v.lost.within(lo, rep.CoveredTo))
			v.retainedSeen = v.retainedSeen.union(v.retention.within(lo, rep.CoveredTo))
		}
	}
	// Records that fail their hash but hold under another's sequence number were moved, not changed.
	for i := range v.bad {
		moved := false
		for j := range v.bad {
			if i != j {
				if h, err := HashEntry(&v.bad[i], v.bad[j].Record.ChainSeq); err == nil && h == v.bad[i].Record.RecordHash {
					moved = true
					break
				}
			}
		}
		r := &v.bad[i].Record
		if moved {
			v.fail(KindReordered, r.ChainSeq, r.ID, "record %s is intact but holds another record's sequence number", r.ID)
		} else {
			v.fail(KindModified, r.ChainSeq, r.ID, "record %s does not match its record_hash", r.ID)
		}
	}
	if rep.LastSeq > rep.CoveredTo {
		detail := ""
		if v.missing > 0 {
			detail = fmt.Sprintf(" (%d sequence numbers missing among them: lost in flight by a crash, or deleted)", v.missing)
		}
		v.fail(KindUncoveredTail, rep.CoveredTo+1, "", "records %d..%d are not covered by a signed checkpoint%s", max(rep.CoveredTo+1, rep.FirstSeq), rep.LastSeq, detail)
	}
	rep.Lost, rep.Retained = v.lostSeen, v.retainedSeen.Count()
	rep.FailuresOmitted = v.omitted
	sort.SliceStable(rep.Failures, func(i, j int) bool { return rep.Failures[i].Seq < rep.Failures[j].Seq })
	return *rep
}

// SortReports sorts chain reports by tenant, then chain.
func SortReports(rs []ChainReport) {
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].TenantID != rs[j].TenantID {
			return rs[i].TenantID < rs[j].TenantID
		}
		return rs[i].ChainID < rs[j].ChainID
	})
}
