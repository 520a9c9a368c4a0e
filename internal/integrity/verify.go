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
	// Failures holds every problem found, the first (lowest sequence number) first.
	Failures []Failure `json:"failures,omitempty"`
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
				h, err := hashEntry(&entries[i], entries[i].Record.ChainSeq)
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

func hashEntry(e *Entry, seq int64) (string, error) {
	rec := e.Record
	rec.ChainSeq = seq
	b, err := rec.CanonicalWithJSON(e.JSON)
	if err != nil {
		return "", err
	}
	return audit.HashOf(b), nil
}

// VerifyChain checks one chain: every record's hash, the links between consecutive records, gaps, the checkpoints'
// signatures and that they sign what is stored, and that the tail is covered. A chain whose first stored record is
// not number 1 (retention removed its head, or a --since window starts inside it) is checked from that record on.
func VerifyChain(entries []Entry, cps []Checkpoint, keys license.KeySet) ChainReport {
	rep := ChainReport{Records: len(entries), Checkpoints: len(cps)}
	if len(entries) > 0 {
		rep.ChainID, rep.TenantID = entries[0].Record.ChainID, entries[0].Record.TenantID
	} else if len(cps) > 0 {
		rep.ChainID, rep.TenantID = cps[0].ChainID, cps[0].TenantID
	}
	fail := func(kind string, seq int64, id, format string, args ...any) {
		rep.Failures = append(rep.Failures, Failure{Kind: kind, Seq: seq, RecordID: id, Detail: fmt.Sprintf(format, args...)})
	}
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].Record.ChainSeq < entries[j].Record.ChainSeq })
	if len(entries) > 0 {
		rep.FirstSeq, rep.LastSeq = entries[0].Record.ChainSeq, entries[len(entries)-1].Record.ChainSeq
	}

	// 1. Each record against its own hash; records whose hash holds under another record's sequence number were
	// moved, not changed.
	bad := map[int]bool{}
	for _, i := range mismatches(entries) {
		bad[i] = true
	}
	moved := map[int]bool{}
	if len(bad) >= 2 {
		for i := range bad {
			for j := range bad {
				if i == j {
					continue
				}
				if h, err := hashEntry(&entries[i], entries[j].Record.ChainSeq); err == nil && h == entries[i].Record.RecordHash {
					moved[i] = true
					break
				}
			}
		}
	}
	byPos := make([]int, 0, len(bad))
	for i := range bad {
		byPos = append(byPos, i)
	}
	sort.Ints(byPos)
	for _, i := range byPos {
		r := &entries[i].Record
		if moved[i] {
			fail(KindReordered, r.ChainSeq, r.ID, "record %s is intact but holds another record's sequence number", r.ID)
		} else {
			fail(KindModified, r.ChainSeq, r.ID, "record %s does not match its record_hash", r.ID)
		}
	}

	// 2. Checkpoint signatures; what the valid ones cover and withdraw.
	sort.Slice(cps, func(i, j int) bool { return cps[i].LastSeq < cps[j].LastSeq })
	valid := make([]bool, len(cps))
	var withdrawn Ranges
	for i := range cps {
		cp := &cps[i]
		if err := cp.VerifySignature(keys); err != nil {
			fail(KindBadSignature, cp.LastSeq, "", "checkpoint at %d: %v", cp.LastSeq, err)
			continue
		}
		valid[i] = true
		for _, w := range cp.Withdrawn {
			withdrawn.AddRange(w[0], w[1])
		}
		rep.CoveredTo = max(rep.CoveredTo, cp.LastSeq)
	}
	rep.Withdrawn = withdrawn.Count()

	// 3. Sequence and links. A gap the checkpoints list as withdrawn was never stored (its delivery failed and the
	// client was told so); a gap after the last checkpoint is part of the uncovered tail (a crash loses the records
	// in flight there, and nothing signed says they existed).
	missingInTail := int64(0)
	for i := range entries {
		r := &entries[i].Record
		if i == 0 {
			if r.ChainSeq == 1 && r.PrevHash != "" && !bad[i] {
				fail(KindInserted, r.ChainSeq, r.ID, "the first record of the chain links to a predecessor")
			}
			continue
		}
		p := &entries[i-1].Record
		switch {
		case r.ChainSeq == p.ChainSeq:
			fail(KindInserted, r.ChainSeq, r.ID, "two records (%s, %s) claim sequence number %d", p.ID, r.ID, r.ChainSeq)
		case r.ChainSeq > p.ChainSeq+1 && withdrawn.Contains(p.ChainSeq+1, r.ChainSeq-1):
		case r.ChainSeq > p.ChainSeq+1 && p.ChainSeq >= rep.CoveredTo:
			missingInTail += r.ChainSeq - p.ChainSeq - 1
		case r.ChainSeq > p.ChainSeq+1:
			fail(KindDeleted, p.ChainSeq+1, "", "records %d..%d are missing", p.ChainSeq+1, r.ChainSeq-1)
		case r.PrevHash != p.RecordHash && !bad[i] && !bad[i-1]:
			fail(KindInserted, r.ChainSeq, r.ID, "record %s does not link to record %d", r.ID, p.ChainSeq)
		}
	}

	// 4. What the checkpoints sign against what is stored.
	bySeq := make(map[int64]*audit.Record, len(entries))
	for i := range entries {
		bySeq[entries[i].Record.ChainSeq] = &entries[i].Record
	}
	for i := range cps {
		cp := &cps[i]
		if !valid[i] {
			continue
		}
		r, ok := bySeq[cp.LastSeq]
		switch {
		case !ok && cp.LastSeq > rep.LastSeq:
			fail(KindDeleted, rep.LastSeq+1, "", "a checkpoint signs %d records but the chain stops at %d", cp.LastSeq, rep.LastSeq)
		case !ok:
			// inside a gap, already reported (or before the first record checked: nothing to compare)
		case r.RecordHash != cp.LastHash:
			fail(KindModified, cp.LastSeq, r.ID, "record %d is not the one the checkpoint signed", cp.LastSeq)
		}
	}
	if rep.LastSeq > rep.CoveredTo {
		detail := ""
		if missingInTail > 0 {
			detail = fmt.Sprintf(" (%d sequence numbers missing among them: lost in flight by a crash, or deleted)", missingInTail)
		}
		fail(KindUncoveredTail, rep.CoveredTo+1, "", "records %d..%d are not covered by a signed checkpoint%s", max(rep.CoveredTo+1, rep.FirstSeq), rep.LastSeq, detail)
	}
	sort.SliceStable(rep.Failures, func(i, j int) bool { return rep.Failures[i].Seq < rep.Failures[j].Seq })
	return rep
}

func sortReports(rs []ChainReport) {
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].TenantID != rs[j].TenantID {
			return rs[i].TenantID < rs[j].TenantID
		}
		return rs[i].ChainID < rs[j].ChainID
	})
}
