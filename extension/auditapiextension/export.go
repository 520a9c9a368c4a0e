package auditapiextension // import "github.com/govcol/govcol/extension/auditapiextension"

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/integrity"
	"github.com/govcol/govcol/internal/store"
)

// Export headers when the export was capped.
const (
	HeaderTruncated = "X-Audit-Export-Truncated"
	HeaderRowCap    = "X-Audit-Export-Row-Cap"
)

// HeaderExportStatus is the HTTP trailer of every export that started streaming: "complete" when every row was
// written, "error" when the export stopped early (the body then ends with the error marker, see exportIncomplete).
const HeaderExportStatus = "X-Export-Status"

// exportIncomplete starts the message of the marker an export that failed mid-stream ends with: in CSV a final
// comment row "# error: export incomplete ...", in JSON a final object {"error": "export incomplete ..."} after
// which the array is deliberately left unclosed, so that no JSON parser can take the truncated export for a
// complete one.
const exportIncomplete = "export incomplete"

func (a *auditAPI) export(ctx context.Context, c caller, w http.ResponseWriter, r *http.Request) error {
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "json"
	}
	if format != "csv" && format != "json" {
		return badRequest("format must be csv or json")
	}
	f, err := decodeFilter(r)
	if err != nil {
		return err
	}
	if f.Limit != nil || f.Offset != nil {
		return badRequest("limit and offset do not apply to an export (it is capped at %d rows)", a.cfg.ExportRowCap)
	}
	cond, args, err := a.where(c, f)
	if err != nil {
		return err
	}
	var total int64
	if err := a.pool.QueryRow(ctx, "SELECT count(*) FROM "+a.cfg.Table+" WHERE "+cond, args...).Scan(&total); err != nil {
		return err
	}
	if total > int64(a.cfg.ExportRowCap) {
		w.Header().Set(HeaderTruncated, "true")
		w.Header().Set(HeaderRowCap, strconv.Itoa(a.cfg.ExportRowCap))
	}
	// Once the first row is out the status is 200 and rows stream on: a failure can no longer change the status, so
	// it is reported in the body (the marker) and in the trailer.
	name := "audit-export-" + time.Now().UTC().Format("20060102T150405Z")
	tail := fmt.Sprintf(` WHERE %s ORDER BY "timestamp" DESC, id LIMIT %d`, cond, a.cfg.ExportRowCap)
	n := 0
	var streamErr error
	if format == "csv" {
		// The stored records through the store's reader, one cell per column as the field table types it. The
		// headers go out with the first row: a query that fails before any row is an error status, as for JSON.
		cw := csv.NewWriter(w)
		begin := func() error {
			w.Header().Set("Trailer", HeaderExportStatus)
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
			w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.csv"`)
			return cw.Write(audit.Columns)
		}
		cells := make([]string, 0, len(audit.Columns))
		streamErr = store.ReadRecords(ctx, a.pool, store.SelectRecords(a.cfg.Table)+tail, args, func(e *integrity.Entry) error {
			if n == 0 {
				if err := begin(); err != nil {
					return err
				}
			}
			cells = csvCells(e, cells[:0])
			if err := cw.Write(cells); err != nil {
				return err
			}
			n++
			return nil
		})
		switch {
		case streamErr != nil && n == 0:
			return streamErr
		case n == 0:
			streamErr = begin()
		}
		cw.Flush()
		if streamErr != nil {
			_, _ = io.WriteString(w, "# error: "+a.incomplete(ctx, n, streamErr)+"\n")
		}
	} else {
		// Each row as Postgres renders it (to_jsonb): the JSON columns as stored, every column named.
		rows, err := a.pool.Query(ctx, "SELECT to_jsonb(a) FROM "+a.cfg.Table+" a"+tail, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		w.Header().Set("Trailer", HeaderExportStatus)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.json"`)
		_, _ = io.WriteString(w, "[")
		for rows.Next() {
			var raw json.RawMessage
			if streamErr = rows.Scan(&raw); streamErr != nil {
				break
			}
			if n > 0 {
				_, _ = io.WriteString(w, ",\n")
			}
			_, _ = w.Write(raw)
			n++
		}
		if streamErr == nil {
			streamErr = rows.Err()
		}
		if streamErr != nil {
			if n > 0 {
				_, _ = io.WriteString(w, ",\n")
			}
			marker, _ := json.Marshal(map[string]any{"error": a.incomplete(ctx, n, streamErr), "rows_written": n})
			_, _ = w.Write(append(marker, '\n')) // no closing bracket: the body is not valid JSON on purpose
		} else {
			_, _ = io.WriteString(w, "]\n")
		}
	}
	if streamErr != nil {
		w.Header().Set(HeaderExportStatus, "error")
		return streamErr // logged by handle; nothing more is written
	}
	w.Header().Set(HeaderExportStatus, "complete")
	return nil
}

// incomplete is the marker's message: what happened in general terms (never the database's error text, which may
// quote data), and how many rows came before.
func (*auditAPI) incomplete(ctx context.Context, n int, err error) string {
	why := "the query failed"
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		why = "the query timed out (query_timeout)"
	}
	return fmt.Sprintf("%s after %d rows: %s; do not use this file", exportIncomplete, n, why)
}

// csvCells appends to out the cells of a stored record in column order (audit.Columns), each typed by its entry of
// the field table as the JSON export renders it: text as it is; times in UTC with microseconds
// (2006-01-02T15:04:05.999999+00:00); JSON columns as stored; text lists as JSON arrays; numbers in decimal; NULL
// as an empty cell. Every cell goes through neutraliseCell.
func csvCells(e *integrity.Entry, out []string) []string {
	r := &e.Record
	for i := range audit.Fields {
		f := &audit.Fields[i]
		if f.Column == "" {
			continue
		}
		var v string
		switch f.Kind {
		case audit.KindText, audit.KindUUID:
			v = *f.Text(r)
		case audit.KindTime:
			v = f.Time(r).UTC().Format(csvTime)
		case audit.KindJSON, audit.KindStringsJSON:
			v = string(*f.Stored(&e.JSON))
		case audit.KindList:
			v = jsonList(*f.List(r))
		case audit.KindInt:
			if p := *f.Int(r); p != nil {
				v = strconv.FormatInt(*p, 10)
			}
		case audit.KindFloat:
			if p := *f.Float(r); p != nil {
				v = strconv.FormatFloat(*p, 'f', -1, 64) // as to_jsonb: the shortest decimal, no exponent
			}
		case audit.KindSeq:
			if seq := *f.Seq(r); seq > 0 {
				v = strconv.FormatInt(seq, 10)
			}
		}
		out = append(out, neutraliseCell(v))
	}
	return out
}

// csvTime is how to_jsonb renders a timestamptz in a UTC session.
const csvTime = "2006-01-02T15:04:05.999999-07:00"

// jsonList renders a text[] as to_jsonb does: ["a", "b"], strings escaped as Postgres escapes them (quote,
// backslash, \b \f \n \r \t, other control characters as \u00XX; everything else as it is).
func jsonList(l []string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, s := range l {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('"')
		for j := 0; j < len(s); j++ {
			switch c := s[j]; c {
			case '"':
				b.WriteString(`\"`)
			case '\\':
				b.WriteString(`\\`)
			case '\b':
				b.WriteString(`\b`)
			case '\f':
				b.WriteString(`\f`)
			case '\n':
				b.WriteString(`\n`)
			case '\r':
				b.WriteString(`\r`)
			case '\t':
				b.WriteString(`\t`)
			default:
				if c < 0x20 {
					fmt.Fprintf(&b, `\u%04x`, c)
				} else {
					b.WriteByte(c)
				}
			}
		}
		b.WriteByte('"')
	}
	b.WriteByte(']')
	return b.String()
}

// neutraliseCell prefixes with a quote a cell a spreadsheet could run as a formula (CSV/formula injection): one
// whose first significant character is = + - @ or one of their full-width (＝ ＋ － ＠) or small-form (﹦ ﹢ ﹣ ﹫)
// variants, which spreadsheets fold to ASCII. Leading whitespace, line breaks, control and invisible format
// characters (zero-width space, BOM, ...) are skipped first, since spreadsheets trim them; a cell starting with a
// tab, carriage return or line feed is neutralised whatever follows. The cell's text is otherwise kept as it is.
func neutraliseCell(s string) string {
	if s == "" {
		return s
	}
	if s[0] == '\t' || s[0] == '\r' || s[0] == '\n' {
		return "'" + s
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			continue
		}
		if strings.ContainsRune(formulaStarts, r) {
			return "'" + s
		}
		return s
	}
	return s
}

// formulaStarts are the characters that make a spreadsheet cell a formula, with their full-width and small-form
// compatibility variants.
const formulaStarts = "=+-@" + "\uFF1D\uFF0B\uFF0D\uFF20" + "\uFE66\uFE62\uFE63\uFE6B"
