package integrity

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/govcol/govcol/internal/audit"
)

func pcommonTime(t time.Time) pcommon.Timestamp { return pcommon.NewTimestampFromTime(t) }

// Chainer assigns chain_id, chain_seq, prev_hash and record_hash to governed records, one chain per tenant for the
// life of the process (chain_id = instance / tenant / start time / random suffix), and signs checkpoints of the chain
// heads.
type Chainer struct {
	instance string
	started  string
	key      ed25519.PrivateKey // nil: chains without checkpoints
	keyID    string
	every    int64
	interval time.Duration
	now      func() time.Time

	mu     sync.Mutex
	chains map[string]*chain
}

type chain struct {
	mu        sync.Mutex
	id        string
	tenant    string
	seq       int64
	last      string
	covered   int64 // last seq covered by a checkpoint
	lastCheck time.Time
}

// NewChainer creates the chains of one collector instance. key may be nil (records are chained, no checkpoints).
func NewChainer(instance string, key ed25519.PrivateKey, keyID string, every int, interval time.Duration, now func() time.Time) *Chainer {
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	return &Chainer{
		instance: instance, key: key, keyID: keyID, every: int64(every), interval: interval, now: now,
		started: now().UTC().Format("20060102T150405.000000Z") + "-" + hex.EncodeToString(suffix),
		chains:  map[string]*chain{},
	}
}

func (c *Chainer) chainOf(tenant string) *chain {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch, ok := c.chains[tenant]
	if !ok {
		ch = &chain{id: c.instance + "/" + tenant + "/" + c.started, tenant: tenant, lastCheck: c.now()}
		c.chains[tenant] = ch
	}
	return ch
}

// Link appends the governed log record lr (its audit.* attributes already stamped) to its tenant's chain: it
// stamps audit.chain_id, audit.chain_seq and audit.prev_hash, hashes the record exactly as an exporter will read it
// back (audit.FromLogRecord) and stamps audit.record_hash. A checkpoint is returned when the chain has grown by
// `every` records since the last one.
func (c *Chainer) Link(res pcommon.Resource, lr plog.LogRecord, tenant string) (*Checkpoint, error) {
	ch := c.chainOf(tenant)
	ch.mu.Lock()
	defer ch.mu.Unlock()
	a := lr.Attributes()
	a.PutStr(audit.AttrChainID, ch.id)
	a.PutInt(audit.AttrChainSeq, ch.seq+1)
	a.PutStr(audit.AttrPrevHash, ch.last)
	a.Remove(audit.AttrRecordHash)
	rec, err := audit.FromLogRecord(res, lr)
	if err != nil {
		return nil, err
	}
	h, err := rec.ComputeHash()
	if err != nil {
		return nil, fmt.Errorf("hashing record %s: %w", rec.ID, err)
	}
	a.PutStr(audit.AttrRecordHash, h)
	ch.seq++
	ch.last = h
	if c.key != nil && ch.seq-ch.covered >= c.every {
		return c.checkpointLocked(ch), nil
	}
	return nil, nil
}

func (c *Chainer) checkpointLocked(ch *chain) *Checkpoint {
	now := c.now()
	cp := &Checkpoint{ChainID: ch.id, TenantID: ch.tenant, LastSeq: ch.seq, LastHash: ch.last, SignedAt: now}
	cp.Sign(c.key, c.keyID)
	ch.covered, ch.lastCheck = ch.seq, now
	return cp
}

// Due signs a checkpoint for every chain with records not yet covered whose last checkpoint is older than the
// interval (all of them when force, at shutdown).
func (c *Chainer) Due(force bool) []*Checkpoint {
	if c.key == nil {
		return nil
	}
	c.mu.Lock()
	chains := make([]*chain, 0, len(c.chains))
	for _, ch := range c.chains {
		chains = append(chains, ch)
	}
	c.mu.Unlock()
	var out []*Checkpoint
	for _, ch := range chains {
		ch.mu.Lock()
		if ch.seq > ch.covered && (force || c.now().Sub(ch.lastCheck) >= c.interval) {
			out = append(out, c.checkpointLocked(ch))
		}
		ch.mu.Unlock()
	}
	return out
}

// AppendCheckpoints adds the checkpoints to ld as log records of their own resource (service.name govcol).
func AppendCheckpoints(ld plog.Logs, cps []*Checkpoint) {
	if len(cps) == 0 {
		return
	}
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "govcol")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("github.com/govcol/govcol/internal/integrity")
	for _, cp := range cps {
		cp.WriteLogRecord(sl.LogRecords().AppendEmpty())
	}
}
