package postgresauditexporter // import "github.com/govcol/govcol/exporter/postgresauditexporter"

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/google/uuid"

	"github.com/govcol/govcol/internal/audit"
)

// The write path's per-record work happens once: prepare parses the decision id and encodes the JSON columns, the
// caps are checked on those encodings (checkCaps), and COPY sends the same bytes (copyReader). Nothing is decoded,
// encoded or boxed twice.

// row is one record ready for COPY: the decision id parsed, the JSON columns encoded.
type row struct {
	rec        *audit.Record
	decisionID uuid.UUID
	js         audit.StoredJSON
}

// newRow prepares rec and checks what Postgres would refuse for this record alone (a malformed decision id).
func newRow(rec *audit.Record) (row, error) {
	id, err := uuid.Parse(rec.DecisionID)
	if err != nil {
		return row{}, fmt.Errorf("audit record %s: decision_id is not a UUID", rec.ID)
	}
	return row{rec: rec, decisionID: id, js: rec.StoredJSON()}, nil
}

// rowsOf prepares records already checked (convert, replay): a malformed decision id cannot occur here.
func rowsOf(recs []audit.Record) []row {
	rows := make([]row, len(recs))
	for i := range recs {
		rows[i], _ = newRow(&recs[i])
	}
	return rows
}

// recsOf returns the records of rows (the fallback file and the pending-batch key read records).
func recsOf(rows []row) []audit.Record {
	recs := make([]audit.Record, len(rows))
	for i := range rows {
		recs[i] = *rows[i].rec
	}
	return recs
}

// checkCaps is audit.Record.CheckCaps on a prepared row, with the JSON columns measured as r.js holds them instead
// of encoded again.
func (r *row) checkCaps() error { return r.rec.CheckCapsStored(&r.js) }

// COPY's binary format (PostgreSQL docs, "COPY", Binary Format): a signature, flags and header extension length,
// then per row the field count and each field as a length (-1: NULL) and its bytes in the type's binary
// representation, then a trailer of -1.
var (
	copySignature = []byte("PGCOPY\n\377\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")
	copyTrailer   = []byte{0xff, 0xff}
)

const (
	// copyChunk is how much COPY data copyReader encodes ahead (pgconn sends 64 KiB messages).
	copyChunk = 64 << 10
	// textOID is the element type of the text[] columns.
	textOID = 25
	// microsecondsToY2K is the Unix time of 2000-01-01, timestamptz's epoch, in microseconds.
	microsecondsToY2K = 946684800 * 1_000_000
)

// copyReader is the COPY FROM STDIN (FORMAT binary) stream of rows, encoded as COPY reads it, a chunk at a time into
// one buffer: the values go straight from the record into the wire format, as pgx would encode them for these column
// types (text, uuid, timestamptz, jsonb, text[], bigint, double precision), without an []any per row.
type copyReader struct {
	rows    []row
	next    int
	buf     []byte
	off     int
	started bool
	done    bool
}

func newCopyReader(rows []row) *copyReader { return &copyReader{rows: rows} }

func (c *copyReader) Read(p []byte) (int, error) {
	for c.off >= len(c.buf) {
		if c.done {
			return 0, io.EOF
		}
		c.fill()
	}
	n := copy(p, c.buf[c.off:])
	c.off += n
	return n, nil
}

func (c *copyReader) fill() {
	c.buf, c.off = c.buf[:0], 0
	if !c.started {
		c.buf = append(c.buf, copySignature...)
		c.started = true
	}
	for c.next < len(c.rows) && len(c.buf) < copyChunk {
		c.buf = appendCopyRow(c.buf, &c.rows[c.next])
		c.next++
	}
	if c.next == len(c.rows) {
		c.buf = append(c.buf, copyTrailer...)
		c.done = true
	}
}

// appendCopyRow appends r as one row of binary COPY, the values as audit.Field.ColumnValue gives them.
func appendCopyRow(b []byte, r *row) []byte {
	rec := r.rec
	b = binary.BigEndian.AppendUint16(b, uint16(len(audit.ColumnFields)))
	for _, f := range audit.ColumnFields {
		switch f.Kind {
		case audit.KindText:
			s := *f.Text(rec)
			if f.Optional && s == "" {
				b = appendNull(b)
				continue
			}
			b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
			b = append(b, s...)
		case audit.KindUUID:
			b = binary.BigEndian.AppendUint32(b, 16)
			b = append(b, r.decisionID[:]...)
		case audit.KindTime:
			t := *f.Time(rec)
			b = binary.BigEndian.AppendUint32(b, 8)
			b = binary.BigEndian.AppendUint64(b, uint64(t.Unix()*1_000_000+int64(t.Nanosecond())/1000-microsecondsToY2K))
		case audit.KindJSON, audit.KindStringsJSON:
			js := *f.Stored(&r.js)
			b = binary.BigEndian.AppendUint32(b, uint32(1+len(js)))
			b = append(b, 1) // jsonb binary format version
			b = append(b, js...)
		case audit.KindList:
			b = appendTextArray(b, *f.List(rec))
		case audit.KindInt:
			if p := *f.Int(rec); p != nil {
				b = appendInt64(b, *p)
			} else {
				b = appendNull(b)
			}
		case audit.KindFloat:
			if p := *f.Float(rec); p != nil {
				b = binary.BigEndian.AppendUint32(b, 8)
				b = binary.BigEndian.AppendUint64(b, math.Float64bits(*p))
			} else {
				b = appendNull(b)
			}
		case audit.KindSeq:
			if n := *f.Seq(rec); n > 0 {
				b = appendInt64(b, n)
			} else {
				b = appendNull(b)
			}
		default:
			panic(fmt.Sprintf("postgresaudit: column %s has no COPY encoding for kind %d", f.Column, f.Kind))
		}
	}
	return b
}

func appendNull(b []byte) []byte { return binary.BigEndian.AppendUint32(b, math.MaxUint32) }

func appendInt64(b []byte, n int64) []byte {
	b = binary.BigEndian.AppendUint32(b, 8)
	return binary.BigEndian.AppendUint64(b, uint64(n))
}

// appendTextArray appends a one-dimensional text[] (no NULL elements; an empty list is the empty array, {}).
func appendTextArray(b []byte, ss []string) []byte {
	at := len(b)
	b = append(b, 0, 0, 0, 0) // the length, set below
	if len(ss) == 0 {
		b = binary.BigEndian.AppendUint32(b, 0) // no dimensions
		b = binary.BigEndian.AppendUint32(b, 0) // no NULLs
		b = binary.BigEndian.AppendUint32(b, textOID)
	} else {
		b = binary.BigEndian.AppendUint32(b, 1)
		b = binary.BigEndian.AppendUint32(b, 0)
		b = binary.BigEndian.AppendUint32(b, textOID)
		b = binary.BigEndian.AppendUint32(b, uint32(len(ss)))
		b = binary.BigEndian.AppendUint32(b, 1) // lower bound
		for _, s := range ss {
			b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
			b = append(b, s...)
		}
	}
	binary.BigEndian.PutUint32(b[at:], uint32(len(b)-at-4))
	return b
}
