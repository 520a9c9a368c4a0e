package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/integrity"
)

// The streaming reader of stored records: one row at a time, decoded by the field table (decode.go).

// cursor buffers one FETCH of a chain's cursor.
type cursor struct {
	name string
	buf  []integrity.Entry
	pos  int
	done bool
}

// head returns the cursor's next entry (fetching when its buffer is used up), nil at its end.
func (c *cursor) head(ctx context.Context, conn *pgx.Conn) (*integrity.Entry, error) {
	if c.pos < len(c.buf) {
		return &c.buf[c.pos], nil
	}
	if c.done {
		return nil, nil
	}
	c.buf, c.pos = c.buf[:0], 0
	err := readEntriesInto(ctx, conn, fmt.Sprintf("FETCH %d FROM %s", fetchSize, c.name), nil, func(e integrity.Entry) bool { c.buf = append(c.buf, e); return true })
	if err != nil {
		return nil, err
	}
	if len(c.buf) < fetchSize {
		c.done = true
	}
	if len(c.buf) == 0 {
		return nil, nil
	}
	return &c.buf[0], nil
}

// mergeCursors hands the rows of two cursors ordered by chain_seq to f, merged by chain_seq (the first cursor's
// row first on a tie), in batches of batchSize (f owns each batch).
func mergeCursors(ctx context.Context, conn *pgx.Conn, a, b string, f func([]integrity.Entry)) error {
	ca, cb := &cursor{name: a, buf: make([]integrity.Entry, 0, fetchSize)}, &cursor{name: b}
	batch := make([]integrity.Entry, 0, batchSize)
	for {
		ea, err := ca.head(ctx, conn)
		if err != nil {
			return err
		}
		eb, err := cb.head(ctx, conn)
		if err != nil {
			return err
		}
		switch {
		case ea == nil && eb == nil:
			if len(batch) > 0 {
				f(batch)
			}
			return nil
		case eb == nil || (ea != nil && ea.Record.ChainSeq <= eb.Record.ChainSeq):
			batch = append(batch, *ea)
			ca.pos++
		default:
			batch = append(batch, *eb)
			cb.pos++
		}
		if len(batch) == batchSize {
			f(batch)
			batch = make([]integrity.Entry, 0, batchSize)
		}
	}
}

// readEntries runs q and hands its rows to f in batches of batchSize (f owns each batch).
func readEntries(ctx context.Context, c *pgx.Conn, q string, args []any, f func([]integrity.Entry)) error {
	batch := make([]integrity.Entry, 0, batchSize)
	err := readEntriesInto(ctx, c, q, args, func(e integrity.Entry) bool {
		batch = append(batch, e)
		if len(batch) == batchSize {
			f(batch)
			batch = make([]integrity.Entry, 0, batchSize)
		}
		return true
	})
	if err != nil {
		return err
	}
	if len(batch) > 0 {
		f(batch)
	}
	return nil
}

// Queryer is what the reader reads through: a *pgx.Conn, a *pgxpool.Pool or a pgx.Tx.
type Queryer interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// SelectRecords is the query of every column of table (audit.Columns, in order) for ReadRecords; append the WHERE
// and ORDER BY clauses. table must be a valid table name (storeconfig.ValidTable): it is quoted, not checked.
func SelectRecords(table string) string {
	return "SELECT " + audit.ColumnList("") + " FROM " + pgx.Identifier{table}.Sanitize()
}

// ReadRecords streams the rows of q (a query of audit.Columns, e.g. SelectRecords) to f one at a time, decoded by the
// field table from Postgres' binary format (or with Scan when the result's types differ): the reader for anything
// that reads stored records (the verifier, crash sealing, the decision store's reconciler, the audit API's export).
// Every row is decoded into its own allocation, so f may keep e.Record and e.JSON; an error from f stops the read and
// is returned.
func ReadRecords(ctx context.Context, c Queryer, q string, args []any, f func(e *integrity.Entry) error) error {
	var ferr error
	err := readEntriesInto(ctx, c, q, args, func(e integrity.Entry) bool {
		ferr = f(&e)
		return ferr == nil
	})
	if ferr != nil {
		return ferr
	}
	return err
}

// readEntriesInto runs q (binary results) and hands its rows to f one by one, until f returns false.
func readEntriesInto(ctx context.Context, c Queryer, q string, args []any, f func(integrity.Entry) bool) error {
	rows, err := c.Query(ctx, q, append([]any{pgx.QueryResultFormats{pgx.BinaryFormatCode}}, args...)...)
	if err != nil {
		return fmt.Errorf("reading audit records: %w", err)
	}
	defer rows.Close()
	fast := binaryColumns(rows.FieldDescriptions())
	for rows.Next() {
		var e integrity.Entry
		var err error
		if fast {
			err = decodeEntry(rows.RawValues(), &e)
		} else {
			err = scanEntry(rows, &e)
		}
		if err != nil {
			return fmt.Errorf("reading audit records: %w", err)
		}
		if !f(e) {
			return nil
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading audit records: %w", err)
	}
	return nil
}

// DecodeStoredJSON sets the structured JSON fields of e.Record (policy_details, obligations, compliance_flags,
// security_metrics, metadata) from the stored JSON columns e.JSON, for a reader that needs the record itself (the
// decision store's reconciler) rather than its hash.
func DecodeStoredJSON(e *integrity.Entry) error {
	r := &e.Record
	for i := range audit.Fields {
		f := &audit.Fields[i]
		if f.JSON == nil {
			continue
		}
		raw := *f.Stored(&e.JSON)
		if len(raw) == 0 || string(raw) == "null" {
			continue
		}
		var err error
		switch {
		case f.Kind == audit.KindStringsJSON:
			err = json.Unmarshal(raw, f.List(r))
		case f.JSON.Decode != nil:
			err = f.JSON.Decode(r, string(raw))
		case f.Column == "metadata":
			err = json.Unmarshal(raw, &r.Metadata)
		default:
			err = fmt.Errorf("no decoder")
		}
		if err != nil {
			return fmt.Errorf("column %s: %w", f.Column, err)
		}
	}
	return nil
}
