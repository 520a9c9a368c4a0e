package integrity

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
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
//
// A checkpoint only ever signs records whose delivery down the pipeline has returned: Link hands out sequence
// numbers to batches that are delivered concurrently, and Settle reports each batch's outcome. The checkpoint signs
// the last delivered record below the lowest sequence number still in flight, and lists the sequence numbers whose
// delivery failed as withdrawn. So a crash (SIGKILL) can only leave records after the last checkpoint unsigned,
// never a checkpoint vouching for a record that was lost in flight.
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

	// The chain registry (EnableRegistry): each chain opened is announced by a signed entry naming the chain this
	// instance opened before it; the entries wait in opened until the caller stores them (TakeOpened).
	registry   bool
	lastOpened string
	opened     []RegistryEntry
	onOpen     func()
}

type chain struct {
	mu     sync.Mutex
	id     string
	tenant string
	seq    int64           // last sequence number handed out
	last   string          // its record_hash (the next record's prev_hash)
	hasher audit.LogHasher // Link's scratch, under mu

	// Delivery: pending holds the hashes of the records not yet below the settled mark (settled+1 .. seq, in
	// order); settled is the highest sequence number up to which every record's delivery has returned.
	pending       pendingRing
	settled       int64
	delivered     int64 // last delivered record at or below settled, and its hash
	deliveredHash string
	withdrawn     Ranges // failed deliveries not yet listed by a checkpoint

	covered   int64 // last seq covered by a checkpoint
	lastCheck time.Time
}

type pendingLink struct {
	hash    string
	settled bool
	ok      bool
}

// pendingRing is a queue of the links not yet settled, in sequence order, in a ring buffer (a map keyed by sequence
// number cost several lookups and an insertion and a deletion per record).
type pendingRing struct {
	buf  []pendingLink // len is 0 or a power of two
	head int           // index in buf of the first
	n    int
}

func (q *pendingRing) push(p pendingLink) {
	if q.n == len(q.buf) {
		buf := make([]pendingLink, max(16, 2*len(q.buf)))
		for k := range q.n {
			buf[k] = q.buf[(q.head+k)&(len(q.buf)-1)]
		}
		q.buf, q.head = buf, 0
	}
	q.buf[(q.head+q.n)&(len(q.buf)-1)] = p
	q.n++
}

// at returns the k-th link of the queue (0 the first), nil when there is none.
func (q *pendingRing) at(k int64) *pendingLink {
	if k < 0 || k >= int64(q.n) {
		return nil
	}
	return &q.buf[(q.head+int(k))&(len(q.buf)-1)]
}

// pop removes and returns the first link.
func (q *pendingRing) pop() pendingLink {
	p := q.buf[q.head]
	q.buf[q.head] = pendingLink{}
	q.head = (q.head + 1) & (len(q.buf) - 1)
	q.n--
	return p
}

// Link is a record's place in a chain, handed out by Chainer.Link and settled with Chainer.Settle.
type Link struct {
	ch  *chain
	seq int64
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
		if c.registry && c.key != nil {
			e := RegistryEntry{Kind: RegistryOpened, ChainID: ch.id, TenantID: tenant, Instance: c.instance, Link: c.lastOpened, SignedAt: c.now()}
			e.Sign(c.key, c.keyID)
			c.opened = append(c.opened, e)
			c.lastOpened = ch.id
			if c.onOpen != nil {
				c.onOpen()
			}
		}
	}
	return ch
}

// EnableRegistry makes every chain opened from now on produce a signed "opened" registry entry (TakeOpened), the
// first naming prev (the newest chain of this instance already registered, "" if none or unknown). onOpen, if set,
// is called (under the Chainer's lock: it must not block) when an entry is waiting.
func (c *Chainer) EnableRegistry(prev string, onOpen func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.registry, c.lastOpened, c.onOpen = true, prev, onOpen
}

// TakeOpened returns the registry entries waiting to be stored; give them back with ReturnOpened when storing
// failed.
func (c *Chainer) TakeOpened() []RegistryEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.opened
	c.opened = nil
	return out
}

// ReturnOpened puts entries back (before any opened since).
func (c *Chainer) ReturnOpened(es []RegistryEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.opened = append(es, c.opened...)
}

// Instance is the collector instance the chains belong to.
func (c *Chainer) Instance() string { return c.instance }

// Run identifies this run of the instance (its chains are <instance>/<tenant>/<run>).
func (c *Chainer) Run() string { return c.started }

// Own reports whether chainID is a chain of this run.
func (c *Chainer) Own(chainID string) bool {
	return strings.HasPrefix(chainID, c.instance+"/") && strings.HasSuffix(chainID, "/"+c.started)
}

// Link appends the governed log record lr (its audit.* attributes already stamped) to its tenant's chain: it
// stamps audit.chain_id, audit.chain_seq and audit.prev_hash, hashes the record exactly as an exporter will read it
// back (audit.FromLogRecord) and stamps audit.record_hash. The returned Link must be settled once the record's
// delivery has returned.
func (c *Chainer) Link(res pcommon.Resource, lr plog.LogRecord, tenant string) (Link, error) {
	ch := c.chainOf(tenant)
	a := lr.Attributes()
	ch.mu.Lock()
	defer ch.mu.Unlock()
	rh, inPlace := stampChain(a, ch.id, ch.seq+1, ch.last)
	h, ok := ch.hasher.LogRecordHash(res, lr) // audit.record_hash is not part of the hash
	if !ok {
		// The reference path, for what the fast one declines; it reports the record's errors.
		rec, err := audit.FromLogRecord(res, lr)
		if err == nil {
			if h, err = rec.ComputeHash(); err != nil {
				err = fmt.Errorf("hashing record %s: %w", rec.ID, err)
			}
		}
		if err != nil {
			a.Remove(audit.AttrRecordHash)
			return Link{}, err
		}
	}
	if inPlace {
		rh.SetStr(h)
	} else {
		a.PutStr(audit.AttrRecordHash, h)
	}
	ch.seq++
	ch.last = h
	ch.pending.push(pendingLink{hash: h})
	return Link{ch: ch, seq: ch.seq}, nil
}

// stampChain sets audit.chain_id, audit.chain_seq and audit.prev_hash as PutStr / PutInt would, in one pass over
// the attributes rather than one each. It returns audit.record_hash's value when it can be set in place (present,
// and no attribute was appended since, which may move the attributes).
func stampChain(a pcommon.Map, id string, seq int64, prev string) (recordHash pcommon.Value, inPlace bool) {
	var idV, seqV, prevV, rhV pcommon.Value
	var found uint8
	for k, v := range a.All() {
		switch {
		case k == audit.AttrChainID && found&1 == 0:
			idV, found = v, found|1
		case k == audit.AttrChainSeq && found&2 == 0:
			seqV, found = v, found|2
		case k == audit.AttrPrevHash && found&4 == 0:
			prevV, found = v, found|4
		case k == audit.AttrRecordHash && found&8 == 0:
			rhV, found = v, found|8
		}
	}
	// Set the values found before appending any: appending may move them.
	if found&1 != 0 {
		idV.SetStr(id)
	}
	if found&2 != 0 {
		seqV.SetInt(seq)
	}
	if found&4 != 0 {
		prevV.SetStr(prev)
	}
	if found&1 == 0 {
		a.PutStr(audit.AttrChainID, id)
	}
	if found&2 == 0 {
		a.PutInt(audit.AttrChainSeq, seq)
	}
	if found&4 == 0 {
		a.PutStr(audit.AttrPrevHash, prev)
	}
	return rhV, found == 15
}

// Settle records the outcome of the delivery of links (delivered when ok, withdrawn otherwise) and returns the
// checkpoints that became due by count (a chain that grew by `every` delivered records since its last one).
func (c *Chainer) Settle(links []Link, ok bool) []*Checkpoint {
	var out []*Checkpoint
	for i := 0; i < len(links); {
		ch := links[i].ch
		ch.mu.Lock()
		for ; i < len(links) && links[i].ch == ch; i++ {
			if p := ch.pending.at(links[i].seq - ch.settled - 1); p != nil {
				p.settled, p.ok = true, ok
			}
		}
		for ch.pending.n > 0 && ch.pending.at(0).settled {
			p := ch.pending.pop()
			ch.settled++
			if p.ok {
				ch.delivered, ch.deliveredHash = ch.settled, p.hash
			} else {
				ch.withdrawn.Add(ch.settled)
			}
		}
		if c.key != nil && ch.delivered-ch.covered >= c.every {
			out = append(out, c.checkpointLocked(ch))
		}
		ch.mu.Unlock()
	}
	return out
}

func (c *Chainer) checkpointLocked(ch *chain) *Checkpoint {
	now := c.now()
	var withdrawn Ranges
	withdrawn, ch.withdrawn = ch.withdrawn.Split(ch.delivered)
	cp := &Checkpoint{ChainID: ch.id, TenantID: ch.tenant, LastSeq: ch.delivered, LastHash: ch.deliveredHash, Withdrawn: withdrawn, SignedAt: now}
	cp.Sign(c.key, c.keyID)
	ch.covered, ch.lastCheck = ch.delivered, now
	return cp
}

// Due signs a checkpoint for every chain with delivered records not yet covered whose last checkpoint is older than
// the interval (all of them when force, at shutdown).
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
		if ch.delivered > ch.covered && (force || c.now().Sub(ch.lastCheck) >= c.interval) {
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
