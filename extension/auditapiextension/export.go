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
	q := fmt.Sprintf(`SELECT to_jsonb(a) FROM %s a WHERE %s ORDER BY "timestamp" DESC, id LIMIT %d`, a.cfg.Table, cond, a.cfg.ExportRowCap)
	rows, err := a.pool.Query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()

	// From here on the status is 200 and rows stream out: a failure can no longer change the status, so it is
	// reported in the body (the marker) and in the trailer.
	name := "audit-export-" + time.Now().UTC().Format("20060102T150405Z")
	w.Header().Set("Trailer", HeaderExportStatus)
	n := 0
	var streamErr error
	if format == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.csv"`)
		cw := csv.NewWriter(w)
		streamErr = cw.Write(audit.Columns)
		for streamErr == nil && rows.Next() {
			var raw json.RawMessage
			if streamErr = rows.Scan(&raw); streamErr != nil {
				break
			}
			var rec []string
			if rec, streamErr = csvRecord(raw); streamErr != nil {
				break
			}
			if streamErr = cw.Write(rec); streamErr == nil {
				n++
			}
		}
		if streamErr == nil {
			streamErr = rows.Err()
		}
		cw.Flush()
		if streamErr != nil {
			_, _ = io.WriteString(w, "# error: "+a.incomplete(ctx, n, streamErr)+"\n")
		}
	} else {
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

// csvRecord flattens a row in column order. Strings are written as they are, other values as JSON; every cell goes
// through neutraliseCell.
func csvRecord(raw []byte) ([]string, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	out := make([]string, len(audit.Columns))
	for i, col := range audit.Columns {
		v := m[col]
		switch {
		case len(v) == 0 || string(v) == "null":
		case v[0] == '"':
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, err
			}
			out[i] = s
		default:
			out[i] = string(v)
		}
		out[i] = neutraliseCell(out[i])
	}
	return out, nil
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
