package integrity

import (
	"github.com/govcol/govcol/internal/audit"
)

// LinkRecord appends a governed record to its tenant's chain when the caller stamps the record itself, after
// linking it (the governance processor stamps audit.record once, chain fields and record_hash included). Under the
// chain's lock it sets r's chain_id, chain_seq and prev_hash, calls hash for the record_hash of r so linked (what
// the exporters will compute from the stamped record: audit.LogHasher.StampedHash, with the chain's LogHasher,
// whose memos persist across batches), and sets r.RecordHash. The returned Link must be settled once the record's
// delivery has returned. When hash fails, r's chain fields are cleared and nothing is appended.
func (c *Chainer) LinkRecord(tenant string, r *audit.Record, hash func(r *audit.Record, h *audit.LogHasher) (string, error)) (Link, error) {
	ch := c.chainOf(tenant)
	ch.mu.Lock()
	defer ch.mu.Unlock()
	r.ChainID, r.ChainSeq, r.PrevHash, r.RecordHash = ch.id, ch.seq+1, ch.last, ""
	h, err := hash(r, &ch.hasher)
	if err != nil {
		r.ChainID, r.ChainSeq, r.PrevHash = "", 0, ""
		return Link{}, err
	}
	r.RecordHash = h
	ch.seq++
	ch.last = h
	ch.pending.push(pendingLink{hash: h})
	return Link{ch: ch, seq: ch.seq}, nil
}
