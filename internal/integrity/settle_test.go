package integrity_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/integrity"
)

// Many batches in flight at once, linked while earlier ones are still in flight and settled in random order, some
// refused (the queue of unsettled links grows, wraps around and shrinks): each checkpoint signs the last delivered
// record with its hash, checkpoints withdraw exactly the refused records, and the last covers the whole chain.
func TestSettleOutOfOrderManyBatches(t *testing.T) {
	key, kid, keys := testKey(t)
	c := integrity.NewChainer("inst", key, kid, 7, time.Hour, time.Now)
	rng := rand.New(rand.NewPCG(3, 4))
	hashOf := func(r *audit.Record, _ *audit.LogHasher) (string, error) { return fmt.Sprint("h", r.ChainSeq), nil }
	type batch struct {
		links      []integrity.Link
		first, end int64 // sequence numbers first..end-1
	}
	var inFlight []batch
	var refused, withdrawn integrity.Ranges
	var cps []*integrity.Checkpoint
	settle := func(k int, ok bool) {
		b := inFlight[k]
		inFlight = append(inFlight[:k], inFlight[k+1:]...)
		if !ok {
			refused.AddRange(b.first, b.end-1)
		}
		cps = append(cps, c.Settle(b.links, ok)...)
	}
	seq := int64(0)
	for round := range 600 {
		b := batch{first: seq + 1}
		for range 1 + rng.IntN(9) {
			l, err := c.LinkRecord("tenant-a", &audit.Record{}, hashOf)
			require.NoError(t, err)
			b.links = append(b.links, l)
			seq++
		}
		b.end = seq + 1
		inFlight = append(inFlight, b)
		if round%100 >= 60 || len(inFlight) > 50 { // let the queue grow, then drain it
			for range 1 + rng.IntN(3) {
				if len(inFlight) > 0 {
					settle(rng.IntN(len(inFlight)), rng.IntN(5) != 0)
				}
			}
		}
	}
	for len(inFlight) > 1 {
		settle(rng.IntN(len(inFlight)-1), rng.IntN(4) != 0)
	}
	settle(0, true) // the newest batch, delivered last: everything is below it
	cps = append(cps, c.Due(true)...)
	require.Greater(t, len(cps), 10)
	for i, cp := range cps {
		require.NoError(t, cp.VerifySignature(keys))
		assert.Equal(t, fmt.Sprint("h", cp.LastSeq), cp.LastHash)
		assert.False(t, refused.Contains(cp.LastSeq, cp.LastSeq), "checkpoint %d signs refused record %d", i, cp.LastSeq)
		if i > 0 {
			assert.Greater(t, cp.LastSeq, cps[i-1].LastSeq)
		}
		for _, r := range cp.Withdrawn {
			withdrawn.AddRange(r[0], r[1])
		}
	}
	assert.Equal(t, seq, cps[len(cps)-1].LastSeq)
	assert.Greater(t, refused.Count(), int64(50))
	assert.Equal(t, refused.String(), withdrawn.String())
}
