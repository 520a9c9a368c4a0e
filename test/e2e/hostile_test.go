package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// The hostile-input suite (issue 16): a client with a valid license sends, over OTLP/HTTP (protobuf) and OTLP/gRPC,
// every shape in which raw personal data or secrets reached storage on 994d622, to two collectors at once (the
// harness configuration, which also forwards every signal to a sink, and the shipped config/local.yaml with its
// Prometheus exporter, span_metrics and count connectors). Then it looks for the raw values everywhere govcol
// writes: audit_logs::text, decision objects, fallback and dead-letter files (every file under the collector's
// directory), what was forwarded, the Prometheus exposition (text and OpenMetrics, with exemplars), the collector's
// internal telemetry and its log. Positive checks keep it from passing vacuously.

const (
	hxEmail  = "alice.secret@example.com"
	hxSSN    = "123-45-6789"
	hxCard   = "4111 1111 1111 1111"
	hxAWS    = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	hxBearer = "hxtok9fQ2xL7pZr4Kd8Wm3Nv6Tb1Yc5Hs0JqA7"
	hxPII    = hxEmail + " " + hxSSN
)

// hxPoisonID is the poison request_id: 12 KB of random base64url (incompressible, so Postgres cannot fit it in a
// btree entry: SQLSTATE 54000 when it reaches the index).
var hxPoisonID = func() string {
	return "req_" + base64.RawURLEncoding.EncodeToString(hxID(9<<10))
}()

// hxJWT is a JWT-shaped bearer token ({"alg":"HS256","typ":"JWT"} . {"sub":"hostile-subject"} . a signature).
var hxJWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"hostile-subject"}`)) +
	".hx7Qm2Lr9Tn4Vp1Ws6Yz3Bc8Df5Gh0Jk2Mn7Pq4Rs9U"

// hxBytes is the content of the bytes-valued attributes; it must not be stored raw nor as its base64.
var hxBytes = []byte(hxPII)

func hxMarkers() []Marker {
	return []Marker{
		{"email", "alice.secret"}, // the local part: catches the address and any partial form of it
		{"ssn", hxSSN},
		{"card", hxCard},
		{"card (compact)", strings.ReplaceAll(hxCard, " ", "")},
		{"aws secret key", hxAWS},
		{"bearer token", hxBearer},
		{"jwt", strings.SplitN(hxJWT, ".", 3)[2]},
		{"bytes (base64)", base64.StdEncoding.EncodeToString(hxBytes)},
		{"bytes (base64url)", base64.RawURLEncoding.EncodeToString(hxBytes)},
		{"poison request_id", hxPoisonID[4:52]},
		{"refused X-User-Email", "rlo-victim"},
		{"refused X-User-Email", "zwsp-victim"},
		{"refused X-User-Email", "nel-victim"},
		{"refused X-User-Email", "cyr-victim"},
		{"refused X-User-Email", "lic-victim"},
	}
}

// hxCase is one hostile case; its tenant is hx-<protocol>-<name>, so every finding names its case.
type hxCase struct {
	name    string
	phase   int               // 1: sent first; 2: the poison phase, after phase 1 is stored
	email   string            // the license's email claim
	headers map[string]string // request headers besides the license
	logs    func() plog.Logs
	traces  func() ptrace.Traces
	metrics func() pmetric.Metrics
	rows    int    // audit_logs rows expected for the case's tenant
	refused bool   // the request must be refused (unauthenticated)
	respell bool   // send the license in another spelling
	series  string // a Prometheus series prefix that must appear with the case's tenant (the exposition was scraped after the flush)
	check   func(t *testing.T, q hxQuery, tenant, client string)
}

type hxQuery func(sql string, args ...any) int

func hxTenant(protocol, name string) string { return "hx-" + protocol + "-" + name }

func hxNow() pcommon.Timestamp { return pcommon.NewTimestampFromTime(time.Now()) }

func hxLogs(service string, recs ...func(plog.LogRecord)) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", service)
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("com.anthropic.claude_code.events")
	for _, f := range recs {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(hxNow())
		lr.SetObservedTimestamp(hxNow())
		f(lr)
	}
	return ld
}

// hxRec is a log record with event.name (when not empty), a body and attributes (any pcommon raw value: string,
// []byte, map[string]any, []any, numbers).
func hxRec(event, body string, attrs map[string]any) func(plog.LogRecord) {
	return func(lr plog.LogRecord) {
		if body != "" {
			lr.Body().SetStr(body)
		}
		if event != "" {
			lr.Attributes().PutStr("event.name", event)
		}
		lr.Attributes().PutStr("event.timestamp", time.Now().UTC().Format(time.RFC3339Nano))
		keys := make([]string, 0, len(attrs))
		for k := range attrs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if err := lr.Attributes().PutEmpty(k).FromRaw(attrs[k]); err != nil {
				panic(err)
			}
		}
	}
}

func hxID(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// hxSpans is a trace with PII in every string field of a span (name, status message, event name and attributes,
// link attributes, scope name and attributes, resource attributes, span attributes including the span_metrics
// dimensions tool_name and model), and a clean span so the tenant's span_metrics series exist whatever is dropped.
func hxSpans() ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "claude-code")
	rs.Resource().Attributes().PutStr("deployment.note", "owner "+hxPII)
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("com.anthropic.claude_code.tracing")
	ss.Scope().Attributes().PutStr("scope.note", "scope "+hxPII)
	now := time.Now()
	var tid pcommon.TraceID
	copy(tid[:], hxID(16))
	add := func(name string) ptrace.Span {
		sp := ss.Spans().AppendEmpty()
		var sid pcommon.SpanID
		copy(sid[:], hxID(8))
		sp.SetTraceID(tid)
		sp.SetSpanID(sid)
		sp.SetName(name)
		sp.SetKind(ptrace.SpanKindClient)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(now.Add(-40 * time.Millisecond)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(now))
		return sp
	}
	sp := add("contact " + hxPII)
	sp.Status().SetCode(ptrace.StatusCodeError)
	sp.Status().SetMessage("failed for " + hxPII)
	sp.Attributes().PutStr("tool_name", "Bash "+hxEmail)
	sp.Attributes().PutStr("model", "claude "+hxEmail)
	sp.Attributes().PutStr("user_prompt", "call me at "+hxPII)
	sp.Attributes().PutEmpty("decision").SetEmptyMap().PutStr("x", hxEmail)
	ev := sp.Events().AppendEmpty()
	ev.SetName("emailed " + hxPII)
	ev.SetTimestamp(pcommon.NewTimestampFromTime(now.Add(-20 * time.Millisecond)))
	ev.Attributes().PutStr("note", "event "+hxPII)
	link := sp.Links().AppendEmpty()
	var ltid pcommon.TraceID
	copy(ltid[:], hxID(16))
	link.SetTraceID(ltid)
	var lsid pcommon.SpanID
	copy(lsid[:], hxID(8))
	link.SetSpanID(lsid)
	link.Attributes().PutStr("note", "link "+hxPII)
	clean := add("hostile.clean.span")
	clean.Attributes().PutStr("tool_name", "Read")
	return td
}

// hxIdentitySpan is one clean span: with an identity header on the request, span_metrics' user_email dimension
// shows what the processor made of the header.
func hxIdentitySpan() ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "claude-code")
	sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	var tid pcommon.TraceID
	copy(tid[:], hxID(16))
	var sid pcommon.SpanID
	copy(sid[:], hxID(8))
	sp.SetTraceID(tid)
	sp.SetSpanID(sid)
	sp.SetName("hostile.identity.span")
	now := time.Now()
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(now.Add(-10 * time.Millisecond)))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(now))
	return td
}

// hxMetrics has PII in a metric's name, description and unit, its data point and exemplar attributes, scope and
// resource; and a clean metric so the tenant's series exist whatever is dropped.
func hxMetrics() pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "claude-code")
	rm.Resource().Attributes().PutStr("deployment.note", "owner "+hxPII)
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("com.anthropic.claude_code")
	sm.Scope().Attributes().PutStr("scope.note", "scope "+hxPII)
	now := time.Now()
	sum := func(name, desc, unit string) pmetric.NumberDataPoint {
		m := sm.Metrics().AppendEmpty()
		m.SetName(name)
		m.SetDescription(desc)
		m.SetUnit(unit)
		s := m.SetEmptySum()
		s.SetIsMonotonic(true)
		s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		dp := s.DataPoints().AppendEmpty()
		dp.SetStartTimestamp(pcommon.NewTimestampFromTime(now.Add(-time.Minute)))
		dp.SetTimestamp(pcommon.NewTimestampFromTime(now))
		dp.SetIntValue(3)
		return dp
	}
	dp := sum("hostile.contact."+hxEmail, "requests by "+hxPII, "{"+hxEmail+"}")
	dp.Attributes().PutStr("note", "point "+hxPII)
	dp.Attributes().PutStr("tool_name", hxEmail)
	dp.Attributes().PutStr("model", "claude "+hxEmail)
	ex := dp.Exemplars().AppendEmpty()
	ex.SetTimestamp(pcommon.NewTimestampFromTime(now))
	ex.SetIntValue(1)
	var tid pcommon.TraceID
	copy(tid[:], hxID(16))
	ex.SetTraceID(tid)
	var sid pcommon.SpanID
	copy(sid[:], hxID(8))
	ex.SetSpanID(sid)
	ex.FilteredAttributes().PutStr("note", "exemplar "+hxPII)
	cdp := sum("hostile.clean.requests", "Clean requests.", "1")
	cdp.Attributes().PutStr("kind", "clean")
	cex := cdp.Exemplars().AppendEmpty()
	cex.SetTimestamp(pcommon.NewTimestampFromTime(now))
	cex.SetIntValue(1)
	cex.SetTraceID(tid)
	cex.SetSpanID(sid)
	cex.FilteredAttributes().PutStr("note", "exemplar "+hxPII)
	return md
}

func hxCases() []hxCase {
	claudeCode := func(recs ...func(plog.LogRecord)) func() plog.Logs {
		return func() plog.Logs { return hxLogs("claude-code", recs...) }
	}
	userPrompt := func(text string) func() plog.Logs {
		return func() plog.Logs {
			return hxLogs("claude-code", hxRec("user_prompt", "claude_code.user_prompt", map[string]any{"prompt": text, "prompt_length": "5"}))
		}
	}
	fallback := func(t *testing.T, q hxQuery, tenant, client string) {
		assert.Equal(t, 1, q(`SELECT count(*) FROM audit_logs WHERE tenant_id = $1 AND identity_source = 'fallback'
			AND user_email = $2`, tenant, "client:"+client), "%s: a refused X-User-Email falls back to client:%s", tenant, client)
	}
	var big strings.Builder
	big.WriteString("sdk_contact ")
	for big.Len() < 20<<10 {
		big.WriteString(hxPII + " " + hxCard + " lorem ipsum dolor sit amet ")
	}
	return []hxCase{
		{
			// Finding 1: no event.name, the body became the event name (request_type, metadata.event_name,
			// audit.event, the decision object), unmasked and uncapped.
			name: "body-event-name",
			logs: func() plog.Logs {
				return hxLogs("hostile-sdk", hxRec("", "sdk_contact "+hxPII, nil), hxRec("", big.String(), nil))
			},
			rows: 2,
			check: func(t *testing.T, q hxQuery, tenant, _ string) {
				assert.Positive(t, q(`SELECT count(*) FROM audit_logs WHERE tenant_id = $1 AND pii_types @> '{email,ssn}'`, tenant),
					"%s: pii_types lists what the body held", tenant)
			},
		},
		// Finding 2: allow-listed keys carrying values that are not plain identifiers, one case per shape.
		{name: "map-tool-decision", rows: 1, logs: claudeCode(hxRec("tool_decision", "claude_code.tool_decision", map[string]any{
			"tool_name": map[string]any{"x": hxEmail}, "decision": map[string]any{"x": hxEmail}, "source": "config"}))},
		{name: "slice-model", rows: 1, logs: claudeCode(hxRec("api_request", "claude_code.api_request", map[string]any{
			"model": []any{hxEmail, hxSSN}, "request_id": "req_011CVhostile0001", "input_tokens": 3, "output_tokens": 4}))},
		{name: "bytes", rows: 1, logs: claudeCode(hxRec("tool_result", "claude_code.tool_result", map[string]any{
			"tool_name": hxBytes, "note": hxBytes, "success": "true"}))},
		{name: "account-uuid-claimed-email", rows: 1, logs: claudeCode(hxRec("user_prompt", "claude_code.user_prompt", map[string]any{
			"prompt": "hello", "user.account_uuid": hxEmail, "user.email": hxPII}))},
		{name: "attribute-key", rows: 1, logs: claudeCode(hxRec("api_request", "claude_code.api_request", map[string]any{
			hxEmail: "attribute key", "ssn " + hxSSN: "attribute key"}))},
		{name: "id-fields", rows: 1, logs: claudeCode(hxRec("api_request", "claude_code.api_request", map[string]any{
			"request_id": hxEmail, "session.id": hxEmail, "prompt.id": hxEmail, "event.sequence": hxEmail}))},
		{name: "event-name-attribute", rows: 1, logs: claudeCode(hxRec("user_prompt "+hxPII, "claude_code.user_prompt", map[string]any{"prompt": "hi"}))},
		{name: "allowlisted-strings", rows: 1, logs: func() plog.Logs {
			ld := claudeCode(hxRec("tool_result", "claude_code.tool_result", map[string]any{
				"tool_name": "Bash " + hxEmail, "model": "claude " + hxEmail, "terminal.type": hxEmail,
				"plugin.name": hxPII, "source": hxEmail, "type": hxEmail, "user.id": hxEmail}))()
			// Allow-listed resource keys carrying PII too.
			res := ld.ResourceLogs().At(0).Resource().Attributes()
			res.PutStr("service.version", hxEmail)
			res.PutStr("os.version", hxPII)
			return ld
		}},
		{
			// Detection breadth: credentials pasted into a prompt.
			name: "credentials",
			logs: userPrompt("curl -H 'Authorization: Bearer " + hxBearer + "' https://api.example.com/v1; " +
				"fetch(url, {headers: {Authorization: 'Bearer " + hxJWT + "'}}); " +
				"export AWS_SECRET_ACCESS_KEY=" + hxAWS + "; card " + hxCard),
			rows: 1,
			check: func(t *testing.T, q hxQuery, tenant, _ string) {
				assert.Equal(t, 1, q(`SELECT count(*) FROM audit_logs WHERE tenant_id = $1 AND pii_types @> '{credit_card}'
					AND policy_decision = 'redacted'`, tenant), "%s: the prompt is redacted", tenant)
			},
		},
		// Finding 5: identity headers with invisible and look-alike characters are refused: synthetic identity.
		{name: "hdr-rlo", headers: map[string]string{"X-User-Email": "rlo-victim\u202e@example.com"},
			logs: userPrompt("hello"), traces: hxIdentitySpan, rows: 1, check: fallback, series: "govcol_spans"},
		{name: "hdr-zwsp", headers: map[string]string{"X-User-Email": "zwsp-victim\u200b@example.com"},
			logs: userPrompt("hello"), traces: hxIdentitySpan, rows: 1, check: fallback, series: "govcol_spans"},
		{name: "hdr-nel", headers: map[string]string{"X-User-Email": "nel-victim\u0085@example.com"},
			logs: userPrompt("hello"), traces: hxIdentitySpan, rows: 1, check: fallback, series: "govcol_spans"},
		{name: "hdr-cyrillic", headers: map[string]string{"X-User-Email": "cyr-victim@ex\u0430mple.com"},
			logs: userPrompt("hello"), traces: hxIdentitySpan, rows: 1, check: fallback, series: "govcol_spans"},
		{name: "hdr-cyrillic-license", email: "owner@corp.example",
			headers: map[string]string{"X-User-Email": "lic-victim@ex\u0430mple.com"},
			logs:    userPrompt("hello"), traces: hxIdentitySpan, rows: 1, series: "govcol_spans",
			check: func(t *testing.T, q hxQuery, tenant, _ string) {
				assert.Equal(t, 1, q(`SELECT count(*) FROM audit_logs WHERE tenant_id = $1 AND identity_source = 'license'
					AND user_email = 'owner@corp.example'`, tenant), "%s: the license's email stays the identity", tenant)
			}},
		{name: "hdr-session", headers: map[string]string{"X-User-Email": "dev@example.com", "X-Session-Id": hxEmail},
			logs: userPrompt("hello"), traces: hxIdentitySpan, rows: 1, series: "govcol_spans",
			check: func(t *testing.T, q hxQuery, tenant, _ string) {
				assert.Equal(t, 1, q(`SELECT count(*) FROM audit_logs WHERE tenant_id = $1 AND identity_source = 'header'
					AND user_email = 'dev@example.com'`, tenant), "%s: a well-formed X-User-Email is the identity", tenant)
			}},
		{
			// Finding 3: spans.
			name: "spans", traces: hxSpans, series: "govcol_spans",
		},
		{
			// Finding 3: metrics.
			name: "metrics", metrics: hxMetrics, series: "hostile_clean_requests",
		},
		{
			// Finding 6: another spelling of a valid license is refused.
			name: "license-respelled", respell: true, refused: true, logs: userPrompt("respelled license"),
		},
		{
			// Finding 4: the poison record, with a well-formed sibling in the same request; sent after phase 1 is
			// stored, with a bystander tenant's request at the same time.
			name: "poison", phase: 2,
			logs: func() plog.Logs {
				return hxLogs("claude-code",
					hxRec("api_request", "claude_code.api_request", map[string]any{"request_id": hxPoisonID, "model": "claude-sonnet-4-5"}),
					hxRec("user_prompt", "claude_code.user_prompt", map[string]any{"prompt": "sibling of the poison record", "request_id": "req_011CVsibling0001"}))
			},
			check: func(t *testing.T, q hxQuery, tenant, _ string) {
				assert.Equal(t, 1, q(`SELECT count(*) FROM audit_logs WHERE tenant_id = $1 AND query = 'sibling of the poison record'`, tenant),
					"%s: the poison record's sibling in the same request is stored", tenant)
			},
		},
		{name: "poison-bystander", phase: 2, logs: userPrompt("bystander of the poison record"), rows: 1},
	}
}

// TestHostileInput: nothing personal or secret reaches storage by any path, and one bad record never blocks the
// others (issue 16).
func TestHostileInput(t *testing.T) {
	sink := NewSink(t)
	collectors := []struct {
		label string
		c     *Collector
	}{{"harness", StartCollector(t, sink)}, {"local.yaml", StartLocalCollector(t)}}
	start := time.Now()
	protocols := []string{"http", "grpc"}
	cases := hxCases()
	caseByTenant := map[string]string{}
	for _, p := range protocols {
		for _, hc := range cases {
			caseByTenant[hxTenant(p, hc.name)] = hc.name + " over " + p
		}
	}

	send := func(phase int) {
		for _, col := range collectors {
			client := NewHostileClient(t, col.c)
			for _, p := range protocols {
				for _, hc := range cases {
					if max(hc.phase, 1) != phase {
						continue
					}
					tenant := hxTenant(p, hc.name)
					lic := col.c.Keys.License(t, "org-hostile", tenant, "client-"+hc.name, hc.email)
					if hc.respell {
						lic = RespellLicense(lic)
					}
					want := OutcomeOK
					if hc.refused {
						want = OutcomeUnauthenticated
					}
					var reqs []OTLPRequest
					if hc.logs != nil {
						reqs = append(reqs, plogotlp.NewExportRequestFromLogs(hc.logs()))
					}
					if hc.traces != nil {
						reqs = append(reqs, ptraceotlp.NewExportRequestFromTraces(hc.traces()))
					}
					if hc.metrics != nil {
						reqs = append(reqs, pmetricotlp.NewExportRequestFromMetrics(hc.metrics()))
					}
					for _, req := range reqs {
						got := client.Send(t, p, req, lic, hc.headers)
						assert.Equal(t, want, got, "case %s over %s (%s): %T answered", hc.name, p, col.label, req)
					}
				}
			}
		}
	}

	// rowsByTenant counts the stored rows of every hostile tenant in a collector's database.
	rowsByTenant := func(c *Collector) map[string]int {
		ctx := context.Background()
		db, err := pgx.Connect(ctx, c.PostgresDSN)
		require.NoError(t, err)
		defer db.Close(ctx)
		rows, err := db.Query(ctx, `SELECT tenant_id, count(*) FROM audit_logs GROUP BY tenant_id`)
		require.NoError(t, err)
		defer rows.Close()
		out := map[string]int{}
		for rows.Next() {
			var tenant string
			var n int
			require.NoError(t, rows.Scan(&tenant, &n))
			out[tenant] = n
		}
		require.NoError(t, rows.Err())
		return out
	}
	// awaitRows waits until every case of the phase has its rows in both collectors' databases (at least the rows
	// expected; for the poison case its sibling), and reports what is missing.
	awaitRows := func(phase int, timeout time.Duration) {
		missing := func() []string {
			var out []string
			for _, col := range collectors {
				got := rowsByTenant(col.c)
				for _, p := range protocols {
					for _, hc := range cases {
						if max(hc.phase, 1) != phase {
							continue
						}
						want := hc.rows
						if hc.name == "poison" {
							want = 1 // the sibling; the poison record itself may be dead-lettered
						}
						if tenant := hxTenant(p, hc.name); got[tenant] < want {
							out = append(out, fmt.Sprintf("%s %s: %d of %d rows", col.label, tenant, got[tenant], want))
						}
					}
				}
			}
			return out
		}
		deadline := time.Now().Add(timeout)
		for len(missing()) > 0 && time.Now().Before(deadline) {
			time.Sleep(250 * time.Millisecond)
		}
		if m := missing(); len(m) > 0 {
			t.Errorf("records not stored within %s: %s", timeout, strings.Join(m, "; "))
		}
	}

	send(1)
	awaitRows(1, 30*time.Second)
	t.Logf("phase 1 (all cases but the poison record) sent and stored after %s", time.Since(start).Round(time.Millisecond))
	send(2)
	awaitRows(2, 20*time.Second)
	t.Logf("phase 2 (poison record, its sibling, a bystander tenant) after %s", time.Since(start).Round(time.Millisecond))

	// Exact row counts and the positive facts of each case.
	for _, col := range collectors {
		got := rowsByTenant(col.c)
		ctx := context.Background()
		db, err := pgx.Connect(ctx, col.c.PostgresDSN)
		require.NoError(t, err)
		q := func(sql string, args ...any) int {
			t.Helper()
			var n int
			require.NoError(t, db.QueryRow(ctx, sql, args...).Scan(&n), sql)
			return n
		}
		for _, p := range protocols {
			for _, hc := range cases {
				tenant := hxTenant(p, hc.name)
				if hc.name != "poison" {
					assert.Equal(t, hc.rows, got[tenant], "%s: %s rows in audit_logs", col.label, tenant)
				}
				if hc.check != nil {
					hc.check(t, q, tenant, "client-"+hc.name)
				}
			}
		}
		// The poison record: stored with its request_id withheld, or dead-lettered with its reason; never in the
		// fallback file (replay would never empty it).
		deadLetters := readGlob(t, col.c.Dir, "*.dead-letter")
		for _, p := range protocols {
			tenant := hxTenant(p, "poison")
			if got[tenant] != 2 {
				assert.Contains(t, deadLetters, tenant, "%s: the poison record of %s is neither stored (%d rows) nor dead-lettered",
					col.label, tenant, got[tenant])
			}
		}
		fallback := readGlob(t, col.c.Dir, "*fallback.jsonl")
		assert.Empty(t, strings.TrimSpace(fallback), "%s: the fallback file holds %d records (Postgres is up: nothing should wait there)",
			col.label, strings.Count(fallback, "\n"))
		assert.Positive(t, col.c.Metric(t, "otelcol_governance_identity_headers_refused"),
			"%s: refused identity headers are counted", col.label)
		redacted := q(`SELECT count(*) FROM audit_logs WHERE policy_decision <> 'allowed'`)
		// Per-decision objects (the harness) or batched NDJSON gzip (local.yaml), flushed within a second or so.
		var decisions int
		deadline := time.Now().Add(20 * time.Second)
		for decisions = localDecisions(t, filepath.Join(col.c.Dir, "decisions")); decisions < redacted && time.Now().Before(deadline); {
			time.Sleep(250 * time.Millisecond)
			decisions = localDecisions(t, filepath.Join(col.c.Dir, "decisions"))
		}
		assert.GreaterOrEqual(t, decisions, redacted, "%s: every non-allowed record has its decision object", col.label)
		db.Close(ctx)
	}

	// The forwarded spans and metrics reached the sink (so the sink scan below looked at them).
	sinkTenants := map[string]bool{}
	for _, n := range []string{"spans", "metrics"} {
		for _, p := range protocols {
			sinkTenants[hxTenant(p, n)] = false
		}
	}
	require.Eventually(t, func() bool {
		sink.mu.Lock()
		defer sink.mu.Unlock()
		for _, td := range sink.traces {
			for _, rs := range td.ResourceSpans().All() {
				for _, ss := range rs.ScopeSpans().All() {
					for _, sp := range ss.Spans().All() {
						if _, ok := sinkTenants[tenantAttr(sp.Attributes())]; ok {
							sinkTenants[tenantAttr(sp.Attributes())] = true
						}
					}
				}
			}
		}
		for _, md := range sink.metrics {
			for _, rm := range md.ResourceMetrics().All() {
				for _, sm := range rm.ScopeMetrics().All() {
					for _, m := range sm.Metrics().All() {
						for _, dp := range metricPoints(m) {
							if _, ok := sinkTenants[tenantAttr(dp.attrs)]; ok {
								sinkTenants[tenantAttr(dp.attrs)] = true
							}
						}
					}
				}
			}
		}
		for _, ok := range sinkTenants {
			if !ok {
				return false
			}
		}
		return true
	}, 10*time.Second, 100*time.Millisecond, "spans and metrics forwarded to the sink: %v", sinkTenants)

	// The Prometheus exposition of config/local.yaml holds the series of every case's spans and metrics (span_metrics
	// flushes every second in the harness), so it is scraped after they arrived.
	local := collectors[1].c
	var missingSeries []string
	deadline := time.Now().Add(20 * time.Second)
	for {
		text := scrape(t, local.ExporterMetricsURL, "text/plain;version=0.0.4")
		missingSeries = missingSeries[:0]
		for _, p := range protocols {
			for _, hc := range cases {
				if hc.series == "" {
					continue
				}
				re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(hc.series) + `[a-z_]*\{[^\n]*tenant_id="` + regexp.QuoteMeta(hxTenant(p, hc.name)) + `"`)
				if !re.MatchString(text) {
					missingSeries = append(missingSeries, hc.series+" of "+hxTenant(p, hc.name))
				}
			}
		}
		if len(missingSeries) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	assert.Empty(t, missingSeries, "series missing from %s", local.ExporterMetricsURL)

	// Now look for every raw value everywhere.
	scanner := NewLeakScanner(hxMarkers(), `hx-(?:http|grpc)-[a-z0-9-]+`)
	for _, col := range collectors {
		scanner.ScanAuditLogs(t, col.label, col.c.PostgresDSN)
		scanner.ScanDir(t, col.label, col.c.Dir)
		scanner.ScanExposition(t, col.label+" internal telemetry", col.c.MetricsURL)
		scanner.ScanOutput(col.label, col.c.Output())
	}
	scanner.ScanExposition(t, "local.yaml exporter", local.ExporterMetricsURL)
	scanner.ScanSink("harness", sink)
	for _, kind := range []string{"audit_logs", "decision object", "/metrics", "sink", "collector log"} {
		assert.Positive(t, scanner.Scanned[kind], "nothing scanned in %s", kind)
	}
	leaks := scanner.Report(t, func(tenant string) string {
		if c, ok := caseByTenant[tenant]; ok {
			return c
		}
		if tenant == "" {
			return "(no tenant named)"
		}
		return tenant
	})
	t.Logf("scanned %v; %d distinct leaks; %s in all", scanner.Scanned, leaks, time.Since(start).Round(time.Millisecond))
}

// readGlob concatenates the files under dir (recursively) whose base name matches pattern; "" when none.
func readGlob(t *testing.T, dir, pattern string) string {
	t.Helper()
	var sb strings.Builder
	require.NoError(t, filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if ok, _ := filepath.Match(pattern, d.Name()); ok {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			sb.Write(b)
		}
		return nil
	}))
	return sb.String()
}

// localDecisions counts the decision objects under a local_dir decision store in either layout: a <decision_id>.json
// file each (per_decision) or a line each of <instance>-<seq>.jsonl.gz files (batched); checkpoints are not counted.
func localDecisions(t testing.TB, dir string) int {
	t.Helper()
	n := 0
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.Contains(path, string(filepath.Separator)+"checkpoints"+string(filepath.Separator)) {
			return err
		}
		switch {
		case strings.HasSuffix(path, ".jsonl.gz"):
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			zr, err := gzip.NewReader(f)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			b, err := io.ReadAll(zr)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			n += bytes.Count(b, []byte("\n"))
		case strings.HasSuffix(path, ".json"):
			n++
		}
		return nil
	}))
	return n
}
