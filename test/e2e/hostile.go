package e2e

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Helpers of the hostile-input suite (hostile_test.go): an OTLP client that speaks HTTP/protobuf and gRPC with any
// headers, and a leak scanner that looks for raw markers in every place govcol writes to.

// OTLPRequest is one export request of any signal (plogotlp, ptraceotlp or pmetricotlp).
type OTLPRequest interface {
	MarshalProto() ([]byte, error)
}

// Outcome of an export as the client sees it.
const (
	OutcomeOK              = "ok"
	OutcomeUnauthenticated = "unauthenticated"
)

// HostileClient sends OTLP export requests to a collector as a client would, over "http" (protobuf POST) or "grpc".
// Over gRPC, requests whose headers hold non-ASCII bytes (which grpc-go refuses to send, though the server accepts
// them) go as raw gRPC frames over HTTP/2 cleartext, as any other gRPC implementation could send them.
type HostileClient struct {
	c    *Collector
	conn *grpc.ClientConn
	h2c  *http.Client
}

// NewHostileClient connects to c (gRPC lazily).
func NewHostileClient(t testing.TB, c *Collector) *HostileClient {
	t.Helper()
	conn, err := grpc.NewClient(c.GRPCEndpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	return &HostileClient{c: c, conn: conn, h2c: &http.Client{Transport: tr, Timeout: 20 * time.Second}}
}

// Send exports req over protocol with license lic (as "Authorization: Bearer") and extra headers, and returns
// OutcomeOK, OutcomeUnauthenticated or a description of any other answer.
func (h *HostileClient) Send(t testing.TB, protocol string, req OTLPRequest, lic string, headers map[string]string) string {
	t.Helper()
	switch protocol {
	case "http":
		return h.sendHTTP(t, req, lic, headers)
	case "grpc":
		if nonASCII(headers) {
			return h.sendRawGRPC(t, req, lic, headers)
		}
		return h.sendGRPC(t, req, lic, headers)
	}
	t.Fatalf("unknown protocol %q", protocol)
	return ""
}

func nonASCII(headers map[string]string) bool {
	for _, v := range headers {
		for i := 0; i < len(v); i++ {
			if v[i] < 0x20 || v[i] > 0x7e {
				return true
			}
		}
	}
	return false
}

func otlpPath(req OTLPRequest) (httpPath, grpcMethod string) {
	switch req.(type) {
	case plogotlp.ExportRequest:
		return "/v1/logs", "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
	case ptraceotlp.ExportRequest:
		return "/v1/traces", "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
	case pmetricotlp.ExportRequest:
		return "/v1/metrics", "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
	}
	panic(fmt.Sprintf("unknown request type %T", req))
}

func (h *HostileClient) sendHTTP(t testing.TB, req OTLPRequest, lic string, headers map[string]string) string {
	t.Helper()
	body, err := req.MarshalProto()
	require.NoError(t, err)
	path, _ := otlpPath(req)
	r, err := http.NewRequest("POST", h.c.HTTPEndpoint+path, bytes.NewReader(body))
	require.NoError(t, err)
	r.Header.Set("Content-Type", "application/x-protobuf")
	r.Header.Set("Authorization", "Bearer "+lic)
	for k, v := range headers {
		r.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(r)
	require.NoError(t, err)
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	switch resp.StatusCode {
	case http.StatusOK:
		return OutcomeOK
	case http.StatusUnauthorized:
		return OutcomeUnauthenticated
	}
	return fmt.Sprintf("HTTP %d", resp.StatusCode)
}

func (h *HostileClient) sendGRPC(t testing.TB, req OTLPRequest, lic string, headers map[string]string) string {
	t.Helper()
	kv := []string{"authorization", "Bearer " + lic}
	for k, v := range headers {
		kv = append(kv, strings.ToLower(k), v)
	}
	ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), kv...), 20*time.Second)
	defer cancel()
	var err error
	switch r := req.(type) {
	case plogotlp.ExportRequest:
		_, err = plogotlp.NewGRPCClient(h.conn).Export(ctx, r)
	case ptraceotlp.ExportRequest:
		_, err = ptraceotlp.NewGRPCClient(h.conn).Export(ctx, r)
	case pmetricotlp.ExportRequest:
		_, err = pmetricotlp.NewGRPCClient(h.conn).Export(ctx, r)
	}
	return grpcOutcome(status.Code(err), err)
}

func grpcOutcome(code codes.Code, err error) string {
	switch code {
	case codes.OK:
		return OutcomeOK
	case codes.Unauthenticated:
		return OutcomeUnauthenticated
	}
	msg := ""
	if err != nil {
		msg = err.Error()
		if len(msg) > 120 {
			msg = msg[:120] + "..."
		}
	}
	return fmt.Sprintf("gRPC %s %s", code, msg)
}

// sendRawGRPC writes one unary gRPC call by hand: HTTP/2 cleartext (prior knowledge), a length-prefixed protobuf
// message, the status read from the trailers (or the headers of a trailers-only answer).
func (h *HostileClient) sendRawGRPC(t testing.TB, req OTLPRequest, lic string, headers map[string]string) string {
	t.Helper()
	msg, err := req.MarshalProto()
	require.NoError(t, err)
	frame := make([]byte, 5+len(msg))
	binary.BigEndian.PutUint32(frame[1:5], uint32(len(msg)))
	copy(frame[5:], msg)
	_, method := otlpPath(req)
	r, err := http.NewRequest("POST", "http://"+h.c.GRPCEndpoint+method, bytes.NewReader(frame))
	require.NoError(t, err)
	r.Header.Set("Content-Type", "application/grpc")
	r.Header.Set("Te", "trailers")
	r.Header.Set("Authorization", "Bearer "+lic)
	for k, v := range headers {
		r.Header.Set(k, v)
	}
	resp, err := h.h2c.Do(r)
	require.NoError(t, err)
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	st := resp.Trailer.Get("Grpc-Status")
	if st == "" {
		st = resp.Header.Get("Grpc-Status")
	}
	var code int
	if _, err := fmt.Sscanf(st, "%d", &code); err != nil {
		return fmt.Sprintf("raw gRPC: HTTP %d, no grpc-status", resp.StatusCode)
	}
	return grpcOutcome(codes.Code(code), fmt.Errorf("%s", resp.Trailer.Get("Grpc-Message")))
}

// Marker is a raw value that must never be found in storage: Value is searched case-insensitively; in the
// Prometheus exposition also in its sanitised form (every character outside [a-zA-Z0-9] as "_").
type Marker struct {
	Name, Value string
}

// Leak is one place where a marker was found.
type Leak struct {
	Tenant string // the tenant named next to the finding (the case), "" when none
	Place  string // where: a column, a field of a decision object, a file, a metric series
	Marker string
}

// LeakScanner collects leaks; a tenant pattern attributes each finding to a case.
type LeakScanner struct {
	markers  []Marker
	tenantRE *regexp.Regexp
	Leaks    []Leak
	Scanned  map[string]int // units scanned per place kind (proof that each place was looked at)
}

// NewLeakScanner scans for markers; tenantPattern finds the tenant (case) a unit of text belongs to.
func NewLeakScanner(markers []Marker, tenantPattern string) *LeakScanner {
	return &LeakScanner{markers: markers, tenantRE: regexp.MustCompile(tenantPattern), Scanned: map[string]int{}}
}

var promSanitizer = regexp.MustCompile(`[^a-zA-Z0-9]`)

// found returns the names of the markers in text (sanitised forms too when prom is set).
func (s *LeakScanner) found(text string, prom bool) []string {
	low := strings.ToLower(text)
	var out []string
	for _, m := range s.markers {
		v := strings.ToLower(m.Value)
		if strings.Contains(low, v) {
			out = append(out, m.Name)
			continue
		}
		if prom {
			if sv := strings.ToLower(promSanitizer.ReplaceAllString(m.Value, "_")); sv != v && strings.Contains(low, sv) {
				out = append(out, m.Name+" (sanitised)")
			}
		}
	}
	return out
}

func (s *LeakScanner) tenantOf(text string) string {
	return s.tenantRE.FindString(text)
}

// scanText records a leak for every marker in text; tenant "" means: look for it in text.
func (s *LeakScanner) scanText(kind, place, tenant, text string, prom bool) {
	s.Scanned[kind]++
	for _, m := range s.found(text, prom) {
		if tenant == "" {
			tenant = s.tenantOf(text)
		}
		s.Leaks = append(s.Leaks, Leak{Tenant: tenant, Place: place, Marker: m})
	}
}

// scanJSON scans text (a JSON document) and, for each marker found, names the JSON paths that hold it.
func (s *LeakScanner) scanJSON(kind, place, tenant, text string) {
	s.Scanned[kind]++
	hits := s.found(text, false)
	if len(hits) == 0 {
		return
	}
	if tenant == "" {
		tenant = s.tenantOf(text)
	}
	var doc any
	jsonOK := json.Unmarshal([]byte(text), &doc) == nil
	for _, name := range hits {
		var paths []string
		if jsonOK {
			paths = s.locate(doc, "", name)
		}
		if len(paths) == 0 {
			paths = []string{"(text)"}
		}
		for _, p := range paths {
			s.Leaks = append(s.Leaks, Leak{Tenant: tenant, Place: place + " " + p, Marker: name})
		}
	}
}

// locate returns the paths in doc whose key or string value holds the named marker.
func (s *LeakScanner) locate(doc any, path, name string) []string {
	var values []string
	for _, m := range s.markers {
		if m.Name == name {
			values = append(values, strings.ToLower(m.Value))
		}
	}
	has := func(x string) bool {
		x = strings.ToLower(x)
		for _, v := range values {
			if strings.Contains(x, v) {
				return true
			}
		}
		return false
	}
	var out []string
	var walk func(v any, p string)
	walk = func(v any, p string) {
		switch x := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if has(k) {
					out = append(out, joinPath(p, "<key>"))
				}
				walk(x[k], joinPath(p, k))
			}
		case []any:
			for _, e := range x {
				walk(e, p+"[]")
			}
		case string:
			if has(x) {
				out = append(out, p)
			}
		}
	}
	walk(doc, path)
	return dedupe(out)
}

func joinPath(p, k string) string {
	if p == "" {
		return k
	}
	return p + "." + k
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// ScanAuditLogs scans every row of audit_logs as text (`t::text`) and names the columns (and JSON paths) holding
// each marker found.
func (s *LeakScanner) ScanAuditLogs(t testing.TB, label, dsn string) {
	t.Helper()
	ctx := context.Background()
	db, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer db.Close(ctx)
	rows, err := db.Query(ctx, `SELECT tenant_id, t::text, to_jsonb(t)::text FROM audit_logs t`)
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		var tenant, text, js string
		require.NoError(t, rows.Scan(&tenant, &text, &js))
		s.Scanned["audit_logs"]++
		hits := s.found(text, false)
		if len(hits) == 0 {
			continue
		}
		var doc any
		_ = json.Unmarshal([]byte(js), &doc)
		for _, name := range hits {
			paths := s.locate(doc, "", name)
			if len(paths) == 0 {
				paths = []string{"(row text)"}
			}
			for _, p := range paths {
				s.Leaks = append(s.Leaks, Leak{Tenant: tenant, Place: label + " audit_logs." + p, Marker: name})
			}
		}
	}
	require.NoError(t, rows.Err())
}

// ScanDir scans every regular file under dir: JSON files (decision objects) by field, other files (fallback and
// dead-letter JSONL, anything else) line by line.
func (s *LeakScanner) ScanDir(t testing.TB, label, dir string) {
	t.Helper()
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		switch {
		case strings.HasSuffix(path, ".jsonl.gz"):
			// The batched decision layout: gzip NDJSON, one decision object a line. Scanned decompressed, or a leak
			// inside would be invisible to the scan.
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				return fmt.Errorf("%s: %w", rel, err)
			}
			plain, err := io.ReadAll(zr)
			if err != nil {
				return fmt.Errorf("%s: %w", rel, err)
			}
			for _, line := range strings.Split(string(plain), "\n") {
				if line != "" {
					s.scanJSON("decision object", label+" decision object", "", line)
				}
			}
		case strings.HasSuffix(path, ".json"):
			kind := "file"
			if strings.Contains(rel, "decisions") {
				kind = "decision object"
			}
			place := label + " " + rel
			if kind == "decision object" {
				place = label + " decision object" // one object per record: the field names the place
			}
			s.scanJSON(kind, place, "", string(b))
		default:
			kind := "file"
			if strings.Contains(rel, "fallback") {
				kind = "fallback/dead-letter"
			}
			for _, line := range strings.Split(string(b), "\n") {
				if line == "" {
					continue
				}
				if strings.HasPrefix(line, "{") {
					s.scanJSON(kind, label+" "+rel, "", line)
				} else {
					s.scanText(kind, label+" "+rel, "", line, false)
				}
			}
		}
		return nil
	}))
}

// ScanExposition scans a Prometheus exposition series by series, for the raw and the sanitised markers: the text
// format, and the exemplars of the OpenMetrics format. HELP and TYPE lines are attributed to the tenant of their
// family's series; places name the metric family.
func (s *LeakScanner) ScanExposition(t testing.TB, label, url string) {
	t.Helper()
	family := func(name string) string {
		for _, suffix := range []string{"_bucket", "_count", "_sum", "_total", "_created"} {
			name = strings.TrimSuffix(name, suffix)
		}
		return name
	}
	text := scrape(t, url, "text/plain;version=0.0.4")
	tenants := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		if name, _, ok := strings.Cut(line, "{"); ok && !strings.HasPrefix(line, "#") {
			if tenant := s.tenantOf(line); tenant != "" {
				tenants[family(name)] = tenant
			}
		}
	}
	for _, line := range strings.Split(text, "\n") {
		if line == "" {
			continue
		}
		name, _, _ := strings.Cut(line, "{")
		name, _, _ = strings.Cut(name, " ")
		tenant := ""
		if f := strings.Fields(line); strings.HasPrefix(line, "#") && len(f) >= 3 {
			name = f[2]
			tenant = tenants[family(name)]
		}
		s.scanText("/metrics", fmt.Sprintf("%s /metrics %s", label, truncate(family(name), 60)), tenant, line, true)
	}
	for _, line := range strings.Split(scrape(t, url, "application/openmetrics-text;version=1.0.0"), "\n") {
		if _, exemplar, ok := strings.Cut(line, " # {"); ok && !strings.HasPrefix(line, "#") {
			name, _, _ := strings.Cut(line, "{")
			s.scanText("/metrics exemplar", fmt.Sprintf("%s /metrics exemplar of %s", label, truncate(family(name), 60)), s.tenantOf(line), exemplar, true)
		}
	}
}

// ScanOutput scans the collector's own log.
func (s *LeakScanner) ScanOutput(label, out string) {
	for _, line := range strings.Split(out, "\n") {
		if line != "" {
			s.scanText("collector log", label+" collector log", "", line, false)
		}
	}
}

// ScanSink scans what the collector forwarded to the sink, field by field: log bodies and attributes, span names,
// status messages, events, links, scopes and resources, metric names, descriptions, units, data point and exemplar
// attributes.
func (s *LeakScanner) ScanSink(label string, sink *Sink) {
	sink.mu.Lock()
	defer sink.mu.Unlock()
	unit := func(tenant, place, text string) {
		s.scanText("sink", label+" sink "+place, tenant, text, false)
	}
	attrs := func(tenant, place string, m pcommon.Map) {
		for k, v := range m.All() {
			unit(tenant, place+" attribute key", k)
			unit(tenant, place+" attribute "+truncate(k, 40), valueText(v))
		}
	}
	resource := func(r pcommon.Resource) string {
		return tenantAttr(r.Attributes())
	}
	scope := func(tenant, place string, sc pcommon.InstrumentationScope) {
		unit(tenant, place+" scope name", sc.Name()+" "+sc.Version())
		attrs(tenant, place+" scope", sc.Attributes())
	}
	for _, ld := range sink.logs {
		for _, rl := range ld.ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					tenant := tenantAttr(lr.Attributes())
					if tenant == "" {
						tenant = resource(rl.Resource())
					}
					attrs(tenant, "log resource", rl.Resource().Attributes())
					scope(tenant, "log", sl.Scope())
					unit(tenant, "log body", valueText(lr.Body()))
					unit(tenant, "log event_name", lr.EventName())
					attrs(tenant, "log", lr.Attributes())
				}
			}
		}
	}
	for _, td := range sink.traces {
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					tenant := tenantAttr(sp.Attributes())
					attrs(tenant, "span resource", rs.Resource().Attributes())
					scope(tenant, "span", ss.Scope())
					unit(tenant, "span name", sp.Name())
					unit(tenant, "span status message", sp.Status().Message())
					unit(tenant, "span trace_state", sp.TraceState().AsRaw())
					attrs(tenant, "span", sp.Attributes())
					for _, ev := range sp.Events().All() {
						unit(tenant, "span event name", ev.Name())
						attrs(tenant, "span event", ev.Attributes())
					}
					for _, l := range sp.Links().All() {
						attrs(tenant, "span link", l.Attributes())
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
						tenant := tenantAttr(dp.attrs)
						attrs(tenant, "metric resource", rm.Resource().Attributes())
						scope(tenant, "metric", sm.Scope())
						unit(tenant, "metric name", m.Name())
						unit(tenant, "metric description", m.Description())
						unit(tenant, "metric unit", m.Unit())
						attrs(tenant, "metric data point", dp.attrs)
						for _, ex := range dp.exemplars.All() {
							attrs(tenant, "metric exemplar", ex.FilteredAttributes())
						}
					}
				}
			}
		}
	}
}

type point struct {
	attrs     pcommon.Map
	exemplars pmetric.ExemplarSlice
}

func metricPoints(m pmetric.Metric) []point {
	var out []point
	switch m.Type() {
	case pmetric.MetricTypeSum:
		for _, dp := range m.Sum().DataPoints().All() {
			out = append(out, point{dp.Attributes(), dp.Exemplars()})
		}
	case pmetric.MetricTypeGauge:
		for _, dp := range m.Gauge().DataPoints().All() {
			out = append(out, point{dp.Attributes(), dp.Exemplars()})
		}
	case pmetric.MetricTypeHistogram:
		for _, dp := range m.Histogram().DataPoints().All() {
			out = append(out, point{dp.Attributes(), dp.Exemplars()})
		}
	case pmetric.MetricTypeExponentialHistogram:
		for _, dp := range m.ExponentialHistogram().DataPoints().All() {
			out = append(out, point{dp.Attributes(), dp.Exemplars()})
		}
	case pmetric.MetricTypeSummary:
		for _, dp := range m.Summary().DataPoints().All() {
			out = append(out, point{dp.Attributes(), pmetric.NewExemplarSlice()})
		}
	}
	return out
}

// tenantAttr is the tenant govcol stamped (tenant_id on spans and points, audit.tenant_id on logs).
func tenantAttr(m pcommon.Map) string {
	for _, k := range []string{"audit.tenant_id", "tenant_id"} {
		if v, ok := m.Get(k); ok {
			return v.AsString()
		}
	}
	return ""
}

// valueText is a value as text for scanning: strings as they are, bytes raw and base64, maps and slices as JSON
// with their keys.
func valueText(v pcommon.Value) string {
	switch v.Type() {
	case pcommon.ValueTypeBytes:
		b := v.Bytes().AsRaw()
		return string(b) + " " + base64.StdEncoding.EncodeToString(b)
	case pcommon.ValueTypeMap, pcommon.ValueTypeSlice:
		var sb strings.Builder
		var walk func(x pcommon.Value)
		walk = func(x pcommon.Value) {
			switch x.Type() {
			case pcommon.ValueTypeMap:
				for k, e := range x.Map().All() {
					sb.WriteString(k + "=")
					walk(e)
					sb.WriteString(" ")
				}
			case pcommon.ValueTypeSlice:
				for _, e := range x.Slice().All() {
					walk(e)
					sb.WriteString(" ")
				}
			default:
				sb.WriteString(valueText(x))
			}
		}
		walk(v)
		return sb.String()
	}
	return v.AsString()
}

// Report fails t once per distinct (case, marker, place), naming all three, and returns the number of distinct
// leaks; caseOf names the case of a tenant.
func (s *LeakScanner) Report(t testing.TB, caseOf func(tenant string) string) int {
	t.Helper()
	type key struct{ c, m, p string }
	counts := map[key]int{}
	var order []key
	for _, l := range s.Leaks {
		k := key{caseOf(l.Tenant), l.Marker, l.Place}
		if counts[k] == 0 {
			order = append(order, k)
		}
		counts[k]++
	}
	sort.Slice(order, func(i, j int) bool {
		if order[i].c != order[j].c {
			return order[i].c < order[j].c
		}
		return order[i].p < order[j].p
	})
	for _, k := range order {
		n := ""
		if counts[k] > 1 {
			n = fmt.Sprintf(" (%d times)", counts[k])
		}
		t.Errorf("LEAK case %s: raw %s in %s%s", k.c, k.m, k.p, n)
	}
	return len(order)
}

func scrape(t testing.TB, url, accept string) string {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	require.NoError(t, err)
	req.Header.Set("Accept", accept)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var sb strings.Builder
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		sb.WriteString(sc.Text())
		sb.WriteByte('\n')
	}
	require.NoError(t, sc.Err())
	return sb.String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// RespellLicense returns another spelling of the same license: the last character of the signature (64 bytes, 86
// base64url characters) carries 4 unused bits, which a non-strict decoder ignores.
func RespellLicense(lic string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, lic[len(lic)-1])
	return lic[:len(lic)-1] + string(alphabet[last^1])
}
