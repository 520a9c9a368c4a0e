package postgresauditexporter // import "github.com/govcol/govcol/exporter/postgresauditexporter"

import (
	"crypto/sha256"
	"encoding/binary"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/integrity"
)

// batchKey identifies a batch by its content: the id and chain position of each record and the chain position of
// each checkpoint, in order. Record ids are deterministic (the governance processor derives them from the event) and
// a chain position is given once, so a retry of a batch has the key of its first attempt whatever plog.Logs value
// exporterhelper hands over, and two different batches never share one.
type batchKey [sha256.Size]byte

func keyOf(recs []audit.Record, cps []integrity.Checkpoint) batchKey {
	rows := make([]row, len(recs))
	for i := range recs {
		rows[i].rec = &recs[i]
	}
	return keyOfRows(rows, cps)
}

// keyOfRows is keyOf of the records of rows.
func keyOfRows(rows []row, cps []integrity.Checkpoint) batchKey {
	h := sha256.New()
	var n [8]byte
	field := func(s string) {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	num := func(v int64) {
		binary.BigEndian.PutUint64(n[:], uint64(v))
		h.Write(n[:])
	}
	for i := range rows {
		r := rows[i].rec
		field(r.ID)
		field(r.ChainID)
		num(r.ChainSeq)
	}
	h.Write([]byte{0xff}) // records end
	for i := range cps {
		field(cps[i].ChainID)
		num(cps[i].LastSeq)
		field(cps[i].Signature)
	}
	var k batchKey
	h.Sum(k[:0])
	return k
}

// pendingBatch is a batch that failed at least once and is neither stored nor spilled yet: the time of its first
// failure (its retry budget runs from there) and the batch, spilled at shutdown if it is still failing then.
type pendingBatch struct {
	first time.Time
	ld    plog.Logs
}

// failed records a failure of the batch key (ld) and returns the time of its first failure.
func (e *auditExporter) failed(key batchKey, ld plog.Logs) time.Time {
	e.pendingMu.Lock()
	defer e.pendingMu.Unlock()
	b, ok := e.pending[key]
	if !ok {
		b = pendingBatch{first: e.now(), ld: ld}
		e.pending[key] = b
	}
	return b.first
}

func (e *auditExporter) isPending(key batchKey) bool {
	e.pendingMu.Lock()
	defer e.pendingMu.Unlock()
	_, ok := e.pending[key]
	return ok
}

func (e *auditExporter) anyPending() bool {
	e.pendingMu.Lock()
	defer e.pendingMu.Unlock()
	return len(e.pending) > 0
}

// settled forgets the batch key: it was stored or spilled.
func (e *auditExporter) settled(key batchKey) {
	e.pendingMu.Lock()
	delete(e.pending, key)
	e.pendingMu.Unlock()
}

// takePending returns the batches still pending and forgets them.
func (e *auditExporter) takePending() map[batchKey]pendingBatch {
	e.pendingMu.Lock()
	defer e.pendingMu.Unlock()
	left := e.pending
	e.pending = map[batchKey]pendingBatch{}
	return left
}
