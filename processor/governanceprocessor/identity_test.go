package governanceprocessor

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"golang.org/x/net/idna"

	"github.com/govcol/govcol/internal/audit"
)

const headersRefusedMetric = "otelcol_governance_identity_headers_refused"

// identityGovernor is a governor whose own telemetry the test can read.
func identityGovernor(t *testing.T, mutate func(*Config)) (*governor, *componenttest.Telemetry) {
	t.Helper()
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	cfg := createDefaultConfig().(*Config)
	cfg.QueryHashKey = "0123456789abcdef0123456789abcdef"
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(t, cfg.Validate())
	g, err := newGovernor(cfg, tt.NewTelemetrySettings())
	require.NoError(t, err)
	return g, tt
}

// refusals returns the identity-header refusal counter as "header/reason" -> count (empty when nothing was refused).
func refusals(t *testing.T, tt *componenttest.Telemetry) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	m, err := tt.GetMetric(headersRefusedMetric)
	if err != nil {
		return out
	}
	sum, ok := m.Data.(metricdata.Sum[int64])
	require.True(t, ok, "%s is a sum", headersRefusedMetric)
	for _, dp := range sum.DataPoints {
		h, _ := dp.Attributes.Value(attribute.Key("header"))
		r, _ := dp.Attributes.Value(attribute.Key("header_reason"))
		out[h.AsString()+"/"+r.AsString()] += dp.Value
	}
	return out
}

func mustPunycode(t *testing.T, domain string) string {
	t.Helper()
	a, err := idna.Punycode.ToASCII(domain)
	require.NoError(t, err)
	return a
}

// TestIdentityHeadersRefuseInvisibleAndLookAlikeCharacters: an identity header value carrying a control or format
// character, a mixed-script look-alike or anything else outside the rule is refused with its reason and counted; it
// never becomes the identity, nor attempted_user_email, nor the session, gateway or client: those fall back as if the
// header were absent.
func TestIdentityHeadersRefuseInvisibleAndLookAlikeCharacters(t *testing.T) {
	const (
		email   = "X-User-Email"
		session = "X-Session-Id"
		gateway = "X-Axonflow-Gateway-Id"
		client  = "X-Axonflow-Client"
	)
	// Every refused value carries "mallory" (emails) or "evil" (other headers), so no trace of it may appear in a
	// stored record.
	cases := []struct {
		name   string
		header string
		value  string
		reason string
	}{
		{"email right-to-left override", email, "mallory\u202e@example.com", "format_character"},
		{"email reversed with RLO", email, "\u202emoc.elpmaxe@yrollam", "format_character"},
		{"email zero-width space", email, "mal\u200blory@example.com", "format_character"},
		{"email zero-width joiner in domain", email, "mallory@exa\u200dmple.com", "format_character"},
		{"email byte order mark", email, "\ufeffmallory@example.com", "format_character"},
		{"email soft hyphen", email, "mallory@exam\u00adple.com", "format_character"},
		{"email LRI isolate", email, "mallory@\u2066example.com", "format_character"},
		{"email NEL (C1)", email, "mallory@example.com\u0085", "control_character"},
		{"email C1 CSI", email, "mallory\u009b@example.com", "control_character"},
		{"email NUL", email, "mallory\x00@example.com", "control_character"},
		{"email CR LF", email, "mallory@example.com\r\nX-Evil: 1", "control_character"},
		{"email DEL", email, "mallory\x7f@example.com", "control_character"},
		{"email Cyrillic a in domain", email, "mallory@ex\u0430mple.com", "mixed_script"},
		{"email Cyrillic a in domain, sent as A-label", email, "mallory@" + mustPunycode(t, "ex\u0430mple.com"), "mixed_script"},
		{"email Greek omicron in domain", email, "mallory@g\u03bfogle.com", "mixed_script"},
		{"email Greek omicron in local part", email, "mall\u03bfry@example.com", "mixed_script"},
		{"email Cyrillic in local part", email, "m\u0430llory@example.com", "mixed_script"},
		{"email full-width at sign", email, "mallory\uff20example.com", "invalid"},
		{"email non-ASCII local part", email, "mallory\u00e9@example.com", "invalid"},
		{"email no-break space", email, "mallory@example.com\u00a0", "invalid"},
		{"email 300 bytes", email, "mallory" + strings.Repeat("a", 50) + "@" + strings.Repeat("b", 60) + "." + strings.Repeat("c", 60) + "." + strings.Repeat("d", 60) + "." + strings.Repeat("e", 57) + ".com", "invalid"},
		{"email two at signs", email, "mallory@evil@example.com", "invalid"},
		{"email invalid UTF-8", email, "mallory\xff@example.com", "invalid"},
		{"email underscore domain", email, "mallory@exa_mple.com", "invalid"},

		{"session right-to-left override", session, "sess-evil\u202e1", "format_character"},
		{"session zero-width space", session, "sess-evil\u200b", "format_character"},
		{"session byte order mark", session, "\ufeffsess-evil", "format_character"},
		{"session NEL", session, "sess-evil\u0085", "control_character"},
		{"session NUL", session, "sess\x00-evil", "control_character"},
		{"session newline", session, "sess-evil\n2", "control_character"},
		{"session Cyrillic look-alike", session, "s\u0435ss-evil", "mixed_script"},
		{"session full-width hyphen", session, "sess\uff0devil", "invalid"},
		{"session 300 bytes", session, "evil" + strings.Repeat("s", 296), "invalid"},
		{"session non-ASCII", session, "sess-evil-\u00e9", "invalid"},

		{"gateway zero-width space", gateway, "claude_desktop\u200b-evil", "format_character"},
		{"gateway Cyrillic look-alike", gateway, "claude_d\u0435sktop-evil", "mixed_script"},
		{"gateway NUL", gateway, "claude_desktop-evil\x00", "control_character"},
		{"client right-to-left override", client, "claude-code\u202e-evil", "format_character"},
		{"client Cyrillic a", client, "cl\u0430ude-code-evil", "mixed_script"},
		{"client NEL", client, "\u0085claude-code-evil", "control_character"},
		{"client 300 bytes", client, "claude-code/evil" + strings.Repeat("x", 284), "invalid"},
	}
	for _, tc := range cases {
		for _, mode := range []struct {
			name       string
			trust      bool
			auth       authData
			wantEmail  string
			wantSource string
		}{
			{"trusted", true, license(), "client:client-a", audit.IdentityFallback},
			{"untrusted", false, license(), "client:client-a", audit.IdentityFallback},
			{"license email", true, withLicenseEmail("alice@corp.example"), "alice@corp.example", audit.IdentityLicense},
		} {
			t.Run(tc.name+"/"+mode.name, func(t *testing.T) {
				g, tt := identityGovernor(t, func(c *Config) { c.TrustIdentityHeaders = mode.trust })
				headers := map[string][]string{tc.header: {tc.value}}
				ctx := authCtx(mode.auth, headers)

				id, err := g.resolveIdentity(ctx)
				require.NoError(t, err)
				assert.Equal(t, mode.wantEmail, id.userEmail, "a refused header is never the identity")
				assert.Equal(t, mode.wantSource, id.identitySource)
				assert.Empty(t, id.attemptedEmail, "attempted_user_email holds only a value that passed validation")
				assert.Empty(t, id.sessionHeader, "a refused X-Session-Id is absent")
				assert.Empty(t, id.gatewayID, "a refused X-Axonflow-Gateway-Id is absent")
				assert.Empty(t, id.clientHeader, "a refused X-Axonflow-Client is absent")
				assert.Equal(t, map[string]int64{strings.ToLower(tc.header) + "/" + tc.reason: 1}, refusals(t, tt))

				// Through the processor: nothing of the refused value lands in the stored record.
				recs := records(t, g, ctx, logOf("claude-code", "hello", map[string]any{"event.name": "user_prompt"}))
				require.Len(t, recs, 1)
				r := recs[0]
				assert.Equal(t, mode.wantEmail, r.UserEmail)
				assert.Equal(t, mode.wantSource, r.IdentitySource)
				assert.NotContains(t, r.Metadata, "attempted_user_email")
				assert.Empty(t, r.SessionID)
				raw, err := json.Marshal(r)
				require.NoError(t, err)
				for _, marker := range []string{"mallory", "yrollam", "evil"} {
					assert.NotContains(t, strings.ToLower(string(raw)), marker, "no trace of the refused value in the record")
				}
			})
		}
	}
}

func withLicenseEmail(email string) authData {
	a := license()
	a["email"] = email
	return a
}

// TestIdentityHeadersAcceptLegitimateValues: plain ASCII addresses, sub-addressing, multi-label domains and IDN
// domains in one script (stored as their punycode A-labels, however they were sent) are accepted, and nothing is
// counted.
func TestIdentityHeadersAcceptLegitimateValues(t *testing.T) {
	japanese := "\u65e5\u672c\u8a9e\u30c9\u30e1\u30a4\u30f3.example" // 日本語ドメイン: Han and Katakana together
	japaneseA, err := idna.Lookup.ToASCII(japanese)
	require.NoError(t, err)
	cases := []struct {
		name, value, want string
	}{
		{"plain", "dev@example.com", "dev@example.com"},
		{"trimmed and lower-cased", "  Dev@Example.COM\t", "dev@example.com"},
		{"sub-addressed, many labels", "dev+tag@sub.example.co.uk", "dev+tag@sub.example.co.uk"},
		{"dot-atom specials", "first.last_o'neil-x@example.org", "first.last_o'neil-x@example.org"},
		{"IDN domain, one script", "dev@b\u00fccher.example", "dev@xn--bcher-kva.example"},
		{"IDN domain, upper case", "Dev@B\u00dcCHER.example", "dev@xn--bcher-kva.example"},
		{"IDN domain sent as A-label", "dev@xn--bcher-kva.example", "dev@xn--bcher-kva.example"},
		{"Cyrillic domain, one script", "dev@\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444", "dev@xn--e1afmkfd.xn--p1ai"},
		{"Japanese domain, Han with Katakana", "dev@" + japanese, "dev@" + japaneseA},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g, tt := identityGovernor(t, nil)
			headers := map[string][]string{
				"X-User-Email": {tc.value}, "X-Session-Id": {"0f8c3e1a-5b7d-4c2e-9a1f-3d6b8e2c4a7f"},
				"X-Axonflow-Gateway-Id": {"claude_desktop-gw-1"}, "X-Axonflow-Client": {"claude-code/2.1.330 (darwin)"},
			}
			id, err := g.resolveIdentity(authCtx(license(), headers))
			require.NoError(t, err)
			assert.Equal(t, tc.want, id.userEmail)
			assert.Equal(t, audit.IdentityHeader, id.identitySource)
			assert.Equal(t, "0f8c3e1a-5b7d-4c2e-9a1f-3d6b8e2c4a7f", id.sessionHeader)
			assert.Equal(t, "claude_desktop-gw-1", id.gatewayID)
			assert.Equal(t, "claude-code/2.1.330 (darwin)", id.clientHeader)
			assert.Empty(t, refusals(t, tt), "nothing refused")

			// The same address on an untrusted header is kept, in the same form, as attempted_user_email.
			g2, _ := identityGovernor(t, func(c *Config) { c.TrustIdentityHeaders = false })
			id, err = g2.resolveIdentity(authCtx(license(), headers))
			require.NoError(t, err)
			assert.Equal(t, "client:client-a", id.userEmail)
			assert.Equal(t, tc.want, id.attemptedEmail)
		})
	}

	t.Run("session at the cap", func(t *testing.T) {
		g, tt := identityGovernor(t, nil)
		v := strings.Repeat("s", g.cfg.MaxHeaderValueBytes)
		id, err := g.resolveIdentity(authCtx(license(), map[string][]string{"x-session-id": {" " + v + " "}}))
		require.NoError(t, err)
		assert.Equal(t, v, id.sessionHeader)
		assert.Empty(t, refusals(t, tt))
	})
	t.Run("blank headers are absent, not refused", func(t *testing.T) {
		g, tt := identityGovernor(t, nil)
		id, err := g.resolveIdentity(authCtx(license(), map[string][]string{"X-User-Email": {"  "}, "X-Session-Id": {""}}))
		require.NoError(t, err)
		assert.Equal(t, "client:client-a", id.userEmail)
		assert.Empty(t, id.sessionHeader)
		assert.Empty(t, refusals(t, tt))
	})
	t.Run("each refusal counts", func(t *testing.T) {
		g, tt := identityGovernor(t, nil)
		ctx := authCtx(license(), map[string][]string{
			"X-User-Email": {"mallory@ex\u0430mple.com"}, "X-Session-Id": {"s\u200b"}, "X-Axonflow-Client": {"c\x00"},
		})
		for i := 0; i < 3; i++ {
			_, err := g.resolveIdentity(ctx)
			require.NoError(t, err)
		}
		assert.Equal(t, map[string]int64{
			"x-user-email/mixed_script": 3, "x-session-id/format_character": 3, "x-axonflow-client/control_character": 3,
		}, refusals(t, tt))
	})
}

// Every stamped key is spoofable as it is and in each spelling that sanitises to it; other keys are not.
func TestSpoofableKeys(t *testing.T) {
	for k := range stampedKeys {
		assert.True(t, isSpoofable(k), k)
		for _, sep := range []string{".", "-", "/", " "} {
			if v := strings.ReplaceAll(k, "_", sep); v != k {
				assert.True(t, isSpoofable(v), v)
			}
		}
	}
	for _, k := range []string{"audit.x", "audit_y", "audit.record"} {
		assert.True(t, isSpoofable(k), k)
	}
	for _, k := range []string{"user.id", "session.id", "tenant", "org.name", "origin_x", "identity.source.x", "user_emails", ""} {
		assert.False(t, isSpoofable(k), k)
	}
}

// The identity's address memo gives checkEmail's result, the first time and after, and stops growing at its bound.
func TestEmailMemo(t *testing.T) {
	var em emailMemo
	for _, raw := range []string{"Dev@Example.com", " a@b.example ", "x@bücher.example", "not an email", "a\u202e@b.example", ""} {
		wantEmail, wantReason := checkEmail(raw)
		for range 2 {
			email, reason := em.check(raw)
			assert.Equal(t, wantEmail, email, raw)
			assert.Equal(t, wantReason, reason, raw)
		}
	}
	for i := range maxEmailMemo + 10 {
		em.check(fmt.Sprintf("u%d@example.com", i))
	}
	assert.Len(t, em.m, maxEmailMemo)
	email, _ := em.check("u4100@example.com") // not remembered: checked again
	assert.Equal(t, "u4100@example.com", email)
}
