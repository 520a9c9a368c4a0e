package store

import (
	"encoding/binary"

	"errors"
	"fmt"
	"math"
	"time"
	"unsafe"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/integrity"
)

// maxColumns bounds audit.Columns for scanEntry's scratch arrays (the field table has at most 64 entries).
const maxColumns = 64

// kindOIDs are the Postgres types the binary decoder reads for each kind of field.
var kindOIDs = map[audit.FieldKind][]uint32{
	audit.KindText:        {pgtype.TextOID, pgtype.VarcharOID},
	audit.KindUUID:        {pgtype.UUIDOID},
	audit.KindTime:        {pgtype.TimestamptzOID},
	audit.KindJSON:        {pgtype.JSONBOID},
	audit.KindStringsJSON: {pgtype.JSONBOID},
	audit.KindList:        {pgtype.TextArrayOID, pgtype.VarcharArrayOID},
	audit.KindInt:         {pgtype.Int8OID},
	audit.KindSeq:         {pgtype.Int8OID},
	audit.KindFloat:       {pgtype.Float8OID},
}

// binaryColumns reports whether the result has audit.Columns' types, all in binary format: then decodeEntry reads
// the raw values directly (several times faster than Scan for 41 columns); otherwise scanEntry is used.
func binaryColumns(fds []pgconn.FieldDescription) bool {
	if len(fds) != len(audit.ColumnFields) {
		return false
	}
	for i, fd := range fds {
		if fd.Format != pgx.BinaryFormatCode {
			return false
		}
		found := false
		for _, oid := range kindOIDs[audit.ColumnFields[i].Kind] {
			found = found || fd.DataTypeOID == oid
		}
		if !found {
			return false
		}
	}
	return true
}

var errNotBinary = errors.New("unexpected column type")

var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// decodeEntry decodes one row of audit.Columns in binary format. The row's text and JSON values are copied into one
// allocation that the record's strings and JSON slices share (the decoder's cost is mostly allocation otherwise).
func decodeEntry(vals [][]byte, e *integrity.Entry) error {
	r := &e.Record
	n := 0
	for _, v := range vals {
		n += len(v)
	}
	arena := make([]byte, 0, n)
	text := func(i int) string {
		v := vals[i]
		if len(v) == 0 {
			return ""
		}
		off := len(arena)
		arena = append(arena, v...)
		return unsafe.String(&arena[off], len(v))
	}
	tm := func(i int) (time.Time, error) {
		if len(vals[i]) != 8 {
			return time.Time{}, errNotBinary
		}
		us := int64(binary.BigEndian.Uint64(vals[i]))
		if us == math.MaxInt64 || us == math.MinInt64 {
			return time.Time{}, fmt.Errorf("infinite timestamp")
		}
		return pgEpoch.Add(time.Duration(us/1e6) * time.Second).Add(time.Duration(us%1e6) * time.Microsecond), nil
	}
	jsonb := func(i int) ([]byte, error) {
		v := vals[i]
		if v == nil {
			return nil, nil
		}
		if len(v) < 1 || v[0] != 1 {
			return nil, errNotBinary
		}
		off := len(arena)
		arena = append(arena, v[1:]...)
		return arena[off:len(arena):len(arena)], nil
	}
	int8p := func(i int) (*int64, error) {
		if vals[i] == nil {
			return nil, nil
		}
		if len(vals[i]) != 8 {
			return nil, errNotBinary
		}
		n := int64(binary.BigEndian.Uint64(vals[i]))
		return &n, nil
	}
	var err error
	for i, f := range audit.ColumnFields {
		switch f.Kind {
		case audit.KindText:
			*f.Text(r) = text(i)
		case audit.KindUUID:
			u := vals[i]
			if len(u) != 16 {
				return errNotBinary
			}
			*f.Text(r) = uuid.UUID(u).String() // lower-case 8-4-4-4-12, as Postgres prints a uuid
		case audit.KindTime:
			if *f.Time(r), err = tm(i); err != nil {
				return err
			}
		case audit.KindJSON, audit.KindStringsJSON:
			if *f.Stored(&e.JSON), err = jsonb(i); err != nil {
				return err
			}
		case audit.KindList:
			if *f.List(r), err = textArray(vals[i]); err != nil {
				return err
			}
		case audit.KindInt:
			if *f.Int(r), err = int8p(i); err != nil {
				return err
			}
		case audit.KindFloat:
			if v := vals[i]; v != nil {
				if len(v) != 8 {
					return errNotBinary
				}
				x := math.Float64frombits(binary.BigEndian.Uint64(v))
				*f.Float(r) = &x
			}
		case audit.KindSeq:
			seq, err := int8p(i)
			if err != nil {
				return err
			}
			if seq != nil {
				*f.Seq(r) = *seq
			}
		default:
			return errNotBinary
		}
	}
	return nil
}

// textArray decodes a one-dimensional text[] in binary format (NULL elements are refused: the columns hold none).
func textArray(v []byte) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	if len(v) < 12 {
		return nil, errNotBinary
	}
	ndim := binary.BigEndian.Uint32(v[0:4])
	if ndim == 0 {
		return []string{}, nil
	}
	if ndim != 1 || len(v) < 20 {
		return nil, errNotBinary
	}
	n := int(int32(binary.BigEndian.Uint32(v[12:16])))
	p := v[20:]
	out := make([]string, 0, n)
	for range n {
		if len(p) < 4 {
			return nil, errNotBinary
		}
		l := int32(binary.BigEndian.Uint32(p[0:4]))
		p = p[4:]
		if l < 0 || int(l) > len(p) {
			return nil, errNotBinary
		}
		out = append(out, string(p[:l]))
		p = p[l:]
	}
	return out, nil
}

// scanEntry reads a row with pgx's Scan (any column types Postgres can convert). Optional text and chain_seq may
// be NULL (then "" and 0).
func scanEntry(rows pgx.Rows, e *integrity.Entry) error {
	r := &e.Record
	var (
		opt  [maxColumns]*string
		seqs [maxColumns]*int64
	)
	dest := make([]any, len(audit.ColumnFields))
	for i, f := range audit.ColumnFields {
		switch f.Kind {
		case audit.KindText, audit.KindUUID:
			if f.Optional {
				dest[i] = &opt[i]
			} else {
				dest[i] = f.Text(r)
			}
		case audit.KindTime:
			dest[i] = f.Time(r)
		case audit.KindJSON, audit.KindStringsJSON:
			dest[i] = f.Stored(&e.JSON)
		case audit.KindList:
			dest[i] = f.List(r)
		case audit.KindInt:
			dest[i] = f.Int(r)
		case audit.KindFloat:
			dest[i] = f.Float(r)
		case audit.KindSeq:
			dest[i] = &seqs[i]
		default:
			return fmt.Errorf("column %s: kind %d has no scan target", f.Column, f.Kind)
		}
	}
	if err := rows.Scan(dest...); err != nil {
		return err
	}
	for i, f := range audit.ColumnFields {
		switch {
		case opt[i] != nil:
			*f.Text(r) = *opt[i]
		case seqs[i] != nil:
			*f.Seq(r) = *seqs[i]
		}
	}
	return nil
}
