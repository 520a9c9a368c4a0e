package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Abuse smoke suite against the shipped config/local.yaml: each hostile request gets the right answer, nothing
// hostile is stored as sent, and the collector keeps serving.
func TestAbuseSmoke(t *testing.T) {
	c := StartLocalCollector(t)
	lic := c.Keys.License(t, "org-e2e", "tenant-e2e", "client-e2e", "")
	post := func(ctype string, body []byte, auth string, extra ...string) int {
		t.Helper()
		req, err := http.NewRequest("POST", c.HTTPEndpoint+"/v1/logs", bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", ctype)
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		for i := 0; i+1 < len(extra); i += 2 {
			req.Header.Set(extra[i], extra[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	record := func(body, attrs string) []byte {
		return []byte(`{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"claude-code"}},` +
			`{"key":"tenant_id","value":{"stringValue":"evil-tenant"}}]},"scopeLogs":[{"logRecords":[{"timeUnixNano":"1763800000000000000",` +
			`"body":` + body + `,"attributes":[` + attrs + `]}]}]}]}`)
	}

	assert.Equal(t, http.StatusBadRequest, post("application/x-protobuf", []byte{0xff, 0xff, 0xff, 0x01, 0x02}, lic), "malformed protobuf")
	assert.Equal(t, http.StatusBadRequest, post("application/json", []byte(`{"resourceLogs": [`), lic), "malformed JSON")
	assert.Equal(t, http.StatusUnsupportedMediaType, post("text/plain", []byte(`hello`), lic), "wrong content type")
	assert.Equal(t, http.StatusBadRequest, post("application/json", bytes.Repeat([]byte("a"), 25<<20), lic), "oversized body (max_request_body_size)")
	assert.Equal(t, http.StatusUnauthorized, post("application/json", record(`{"stringValue":"x"}`, ""), "eyJhbGciOiJFZERTQSJ9.e30.AAAA"), "forged license")
	assert.Equal(t, http.StatusUnauthorized, post("application/json", record(`{"stringValue":"x"}`, ""), ""), "no license")

	var wide strings.Builder
	for i := range 10_000 {
		if i > 0 {
			wide.WriteString(",")
		}
		fmt.Fprintf(&wide, `{"key":"k%d","value":{"stringValue":"v"}}`, i)
	}
	// Well-formed OTLP, so the transport accepts it; governance drops the record (max_attributes_per_record).
	assert.Equal(t, http.StatusOK, post("application/json", record(`{"stringValue":"wide"}`, wide.String()), lic), "10,000 attributes")
	deep := `{"stringValue":"leaf"}`
	for range 2000 {
		deep = `{"kvlistValue":{"values":[{"key":"n","value":` + deep + `}]}}`
	}
	assert.Equal(t, http.StatusOK, post("application/json", record(deep, ""), lic), "deep nesting")
	assert.Equal(t, http.StatusOK, post("application/json", record("{\"stringValue\":\"utf8 \xff\xfe here\"}",
		`{"key":"event.name","value":{"stringValue":"user_prompt"}},{"key":"session.id","value":{"stringValue":"abuse-utf8"}}`), lic), "invalid UTF-8")
	// Identity spoofing in attributes, resource (above) and headers for tenant, and a claimed developer identity in
	// the attributes: the license decides the tenant; with no identity header or license email the developer is the
	// license's client, the claim is not an identity.
	assert.Equal(t, http.StatusOK, post("application/json", record(`{"stringValue":"spoof"}`,
		`{"key":"event.name","value":{"stringValue":"user_prompt"}},{"key":"session.id","value":{"stringValue":"abuse-spoof"}},{"key":"audit.tenant_id","value":{"stringValue":"evil-tenant"}},`+
			`{"key":"tenant_id","value":{"stringValue":"evil-tenant"}},{"key":"org_id","value":{"stringValue":"evil-org"}},`+
			`{"key":"user.email","value":{"stringValue":"mallory@attacker.example"}},{"key":"audit.user_email","value":{"stringValue":"mallory@attacker.example"}}`),
		lic, "X-Tenant-Id", "evil-tenant"))
	// Still serving.
	assert.Equal(t, http.StatusOK, post("application/json", record(`{"stringValue":"ok"}`, `{"key":"event.name","value":{"stringValue":"user_prompt"}},{"key":"session.id","value":{"stringValue":"abuse-ok"}}`), lic))

	db, err := pgx.Connect(context.Background(), c.PostgresDSN)
	require.NoError(t, err)
	defer db.Close(context.Background())
	count := func(sql string) int {
		var n int
		require.NoError(t, db.QueryRow(context.Background(), sql).Scan(&n), sql)
		return n
	}
	require.Eventually(t, func() bool {
		return count(`SELECT count(*) FROM audit_logs WHERE session_id = 'abuse-ok'`) == 1
	}, 20*time.Second, 200*time.Millisecond)
	assert.Equal(t, 3, count(`SELECT count(*) FROM audit_logs`), "utf8, spoof and ok; the wide and the deep record were dropped")
	assert.Zero(t, count(`SELECT count(*) FROM audit_logs a WHERE tenant_id <> 'tenant-e2e' OR a::text LIKE '%evil-%'`))
	assert.Equal(t, 1, count(`SELECT count(*) FROM audit_logs WHERE session_id = 'abuse-spoof'
		AND user_email = 'client:client-e2e' AND identity_source = 'fallback'`), "a claimed email is not an identity")
	assert.Zero(t, count(`SELECT count(*) FROM audit_logs WHERE user_email LIKE '%attacker%'`))
	assert.Equal(t, 1, count("SELECT count(*) FROM audit_logs WHERE session_id = 'abuse-utf8'"),
		"invalid UTF-8 is stored (as U+FFFD), not dead-lettered")
	assert.Equal(t, 1.0, c.Metric(t, "otelcol_governance_records_dropped", `reason="too_many_attributes"`))
	assert.Equal(t, 1.0, c.Metric(t, "otelcol_governance_records_dropped", `reason="too_deep"`))
	assert.Positive(t, c.Metric(t, "otelcol_licenseauth_failures"))
	assert.NotContains(t, c.Output(), "panic")
}
