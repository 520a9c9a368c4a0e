package auditapiextension

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configopaque"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/audittest"
	"github.com/govcol/govcol/processor/governanceprocessor/governancetest"
)

// Issue 17, finding 8: formula neutralisation looks past leading whitespace, line breaks and invisible characters,
// and knows the full-width and small-form variants.
func TestNeutraliseCell(t *testing.T) {
	for _, s := range []string{
		"=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", "\n=1", "\tplain", "\rplain",
		" =HYPERLINK(\"http://evil\")", "\n\n=cmd|' /C calc'!A0", "  \t +1", "\u00a0=1", "\u3000=1", "\u200b=1", "\ufeff@x",
		"\uff1dHYPERLINK(\"x\")", "\uff0b1", "\uff0d1", "\uff20x", " \uff1d1", "\ufe661", "\ufe621", "\ufe631", "\ufe6bx",
	} {
		got := neutraliseCell(s)
		assert.Equal(t, "'"+s, got, "%q", s)
	}
	for _, s := range []string{"", "plain", "a=b", "user@example.com", "1-2", "   ", "[REDACTED:ssn]", "'=already"} {
		assert.Equal(t, s, neutraliseCell(s), "%q", s)
	}
}

// Issue 17, finding 8: the same cells through a real CSV export.
func TestCSVExportNeutralisesHiddenFormulas(t *testing.T) {
	fx := newFixture(t, nil)
	payloads := []string{" =HYPERLINK(\"http://evil.example\",\"x\")", "\n=1+1", "\uff1dHYPERLINK(\"http://evil.example\")", "\t@SUM(1)"}
	for _, p := range payloads {
		ld := audittest.Renumber(governancetest.Governed(t, "tenant-a"), time.Time{})
		first := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
		first.Attributes().PutStr(audit.AttrQuery, p)
		keepOnly(ld, first)
		storeLogs(t, fx.dsn, ld)
	}
	r := fx.do(t, "POST", "/api/v1/audit/export?format=csv", fx.tenantReader("tenant-a"), `{}`)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	records, err := csv.NewReader(strings.NewReader(string(r.body))).ReadAll()
	require.NoError(t, err)
	found := map[string]bool{}
	for _, row := range records[1:] {
		for _, cell := range row {
			for _, p := range payloads {
				if strings.Contains(cell, strings.TrimSpace(p)) {
					assert.Equal(t, "'"+p, cell)
					found[p] = true
				}
			}
		}
	}
	assert.Len(t, found, len(payloads))
	assert.Equal(t, "complete", r.trailer.Get(HeaderExportStatus))
}

// Issue 17, finding 8: every response of the server, API and Explorer, success and error, carries the security
// headers; API answers are never cached.
func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	fx := newFixture(t, nil)
	lic := fx.tenantReader("tenant-a")
	for _, tc := range []struct {
		method, path, lic, body string
		status                  int
		api                     bool
	}{
		{"GET", "/audit/", "", "", http.StatusOK, false},
		{"GET", "/audit/app.js", "", "", http.StatusOK, false},
		{"GET", "/audit/style.css", "", "", http.StatusOK, false},
		{"GET", "/audit/missing.html", "", "", http.StatusNotFound, false},
		{"POST", "/api/v1/audit/search", lic, `{}`, http.StatusOK, true},
		{"POST", "/api/v1/audit/export?format=csv", lic, `{}`, http.StatusOK, true},
		{"POST", "/api/v1/audit/export?format=json", lic, `{}`, http.StatusOK, true},
		{"GET", "/api/v1/audit/" + fx.idsOf["tenant-a"][0], lic, "", http.StatusOK, true},
		{"POST", "/api/v1/audit/search", "", `{}`, http.StatusUnauthorized, true},
		{"POST", "/api/v1/audit/search", lic, `{"colour":1}`, http.StatusBadRequest, true},
		{"GET", "/api/v1/audit/tenant/tenant-b", lic, "", http.StatusForbidden, true},
		{"GET", "/api/v1/nothing", lic, "", http.StatusNotFound, true},
	} {
		r := fx.do(t, tc.method, tc.path, tc.lic, tc.body)
		require.Equal(t, tc.status, r.status, tc.path)
		h := r.header
		assert.Equal(t, "nosniff", h.Get("X-Content-Type-Options"), tc.path)
		assert.Equal(t, "DENY", h.Get("X-Frame-Options"), tc.path)
		assert.Equal(t, "no-referrer", h.Get("Referrer-Policy"), tc.path)
		csp := h.Get("Content-Security-Policy")
		assert.Contains(t, csp, "frame-ancestors 'none'", tc.path)
		assert.Contains(t, csp, "default-src 'none'", tc.path)
		assert.NotContains(t, csp, "unsafe-inline", tc.path)
		if tc.api {
			assert.Equal(t, "no-store", h.Get("Cache-Control"), tc.path)
		} else {
			assert.Contains(t, csp, "script-src 'self'", tc.path)
		}
	}
}

// cutProxy forwards TCP connections to Postgres and, once armed, drops every connection after cutAfter bytes have
// come back from the server: a database connection lost in the middle of a query.
type cutProxy struct {
	ln       net.Listener
	target   string
	armed    atomic.Bool
	cutAfter int64
	sent     atomic.Int64
	mu       sync.Mutex
	conns    []net.Conn
}

func newCutProxy(t *testing.T, target string, cutAfter int64) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &cutProxy{ln: ln, target: target, cutAfter: cutAfter}
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(s, c); s.Close() }()
			go p.pump(c, s)
		}
	}()
	return p
}

// pump copies server to client, counting bytes while armed, and cuts both sides past the limit.
func (p *cutProxy) pump(client, server net.Conn) {
	defer client.Close()
	defer server.Close()
	buf := make([]byte, 512)
	for {
		n, err := server.Read(buf)
		if n > 0 {
			if p.armed.Load() && p.sent.Add(int64(n)) > p.cutAfter {
				return
			}
			if _, werr := client.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// Issue 17, finding 8: an export whose database connection drops mid-stream ends with an explicit error marker
// (CSV: a final comment row; JSON: a final error object, array left unclosed) and the trailer X-Export-Status:
// error; a complete export says complete.
func TestExportFailingMidStreamEndsWithMarker(t *testing.T) {
	var proxy *cutProxy
	fx := newFixture(t, func(c *Config) {
		pc, err := pgx.ParseConfig(string(c.DSN))
		require.NoError(t, err)
		addr := net.JoinHostPort(pc.Host, itoa(int(pc.Port)))
		proxy = newCutProxy(t, addr, 6000)
		c.DSN = configopaque.String(strings.Replace(string(c.DSN), addr, proxy.ln.Addr().String(), 1))
	})
	admin := fx.globalAdmin()

	r := fx.do(t, "POST", "/api/v1/audit/export?format=json", admin, `{}`)
	require.Equal(t, http.StatusOK, r.status)
	assert.Len(t, exportRows(t, r.body), 22)
	assert.Equal(t, "complete", r.trailer.Get(HeaderExportStatus))

	for _, format := range []string{"json", "csv"} {
		t.Run(format, func(t *testing.T) {
			proxy.sent.Store(0)
			proxy.armed.Store(true)
			defer proxy.armed.Store(false)
			r := fx.do(t, "POST", "/api/v1/audit/export?format="+format, admin, `{}`)
			require.Equal(t, http.StatusOK, r.status, "the status was sent with the first row")
			assert.Equal(t, "error", r.trailer.Get(HeaderExportStatus))
			body := strings.TrimRight(string(r.body), "\n")
			last := body[strings.LastIndex(body, "\n")+1:]
			if format == "csv" {
				require.True(t, strings.HasPrefix(last, "# error: export incomplete after "), last)
				rows, err := csv.NewReader(strings.NewReader(body[:len(body)-len(last)])).ReadAll()
				require.NoError(t, err)
				require.Greater(t, len(rows), 1, "some rows came before the failure")
				require.Less(t, len(rows), 23)
				assert.Contains(t, last, "after "+itoa(len(rows)-1)+" rows")
			} else {
				var marker struct {
					Error string `json:"error"`
					Rows  int    `json:"rows_written"`
				}
				require.NoError(t, json.Unmarshal([]byte(last), &marker), last)
				assert.Contains(t, marker.Error, "export incomplete")
				assert.Positive(t, marker.Rows, "some rows came before the failure")
				assert.Less(t, marker.Rows, 22)
				var whole []json.RawMessage
				assert.Error(t, json.Unmarshal([]byte(body), &whole), "a truncated export never parses as a complete one")
			}
			assert.NotContains(t, body, "pgconn", "no database error text in the body")
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// The CSV export reads the stored records with the store's reader and types each cell by the field table; the JSON
// export is Postgres' own to_jsonb. Every cell of the CSV is the JSON export's value for that row and column (a
// string unquoted, anything else as its JSON text, NULL empty; times compared as instants, since to_jsonb writes the
// session's offset), including lists with characters JSON escapes, and a cost that is large or tiny.
func TestCSVExportCellsMatchJSONExport(t *testing.T) {
	fx := newFixture(t, nil)
	for i, cost := range []float64{1e21, 1.5e-7} {
		ld := audittest.Renumber(governancetest.Governed(t, "tenant-a"), time.Now().Add(time.Duration(i)*time.Second))
		first := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
		first.Attributes().PutDouble(audit.AttrCost, cost)
		l := first.Attributes().PutEmptySlice(audit.AttrRedactedFields)
		for _, s := range []string{"quote\" backslash\\ tab\t nl\n cr\r", "ctl\x01\x1f", "é ✓ \u2028 </script>", ""} {
			l.AppendEmpty().SetStr(s)
		}
		keepOnly(ld, first)
		storeLogs(t, fx.dsn, ld)
	}
	admin := fx.globalAdmin()
	j := fx.do(t, "POST", "/api/v1/audit/export?format=json", admin, `{}`)
	require.Equal(t, http.StatusOK, j.status, string(j.body))
	var rows []map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(j.body, &rows))
	c := fx.do(t, "POST", "/api/v1/audit/export?format=csv", admin, `{}`)
	require.Equal(t, http.StatusOK, c.status, string(c.body))
	assert.Equal(t, "complete", c.trailer.Get(HeaderExportStatus))
	records, err := csv.NewReader(strings.NewReader(string(c.body))).ReadAll()
	require.NoError(t, err)
	require.Equal(t, audit.Columns, records[0])
	require.Len(t, records[1:], len(rows))
	require.Greater(t, len(rows), 20)
	for i, row := range rows {
		for k, col := range audit.Columns {
			v, got := row[col], records[i+1][k]
			want := ""
			switch {
			case len(v) == 0 || string(v) == "null":
			case v[0] == '"':
				require.NoError(t, json.Unmarshal(v, &want))
			default:
				want = string(v)
			}
			if f := &audit.Fields[audit.FieldIndex(col)]; f.Kind == audit.KindTime {
				tw, err1 := time.Parse(time.RFC3339Nano, want)
				tg, err2 := time.Parse(time.RFC3339Nano, got)
				require.NoError(t, err1)
				require.NoError(t, err2)
				assert.True(t, tw.Equal(tg), "row %d %s: %s vs %s", i, col, want, got)
				continue
			}
			assert.Equal(t, neutraliseCell(want), got, "row %d column %s", i, col)
		}
	}
}
