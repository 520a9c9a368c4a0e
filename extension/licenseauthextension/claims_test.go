package licenseauthextension

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/govcol/govcol/extension/licenseauthextension/internal/metadatatest"
	"github.com/govcol/govcol/internal/license"
)

// Issue 17, finding 4: the scope, read_tenant and global claims reach client.Info.Auth; a license without a scope
// claim is an ingest license.
func TestScopeClaimsExposedAsAuthAttributes(t *testing.T) {
	s := startServer(t, nil)
	now := time.Now()
	legacy := license.NewClaims("org-a", "tenant-a", "client-a", "standard", "", now, time.Hour)
	legacy.Scope = ""
	reader := license.NewClaims("org-a", "tenant-a", "client-r", "", "dev@example.com", now, time.Hour)
	reader.Scope, reader.ReadTenant = license.ScopeRead, true
	admin := license.NewClaims("org-a", "tenant-a", "client-x", "", "", now, time.Hour)
	admin.Scope, admin.Global = license.ScopeAdmin, true
	for _, tc := range []struct {
		name                      string
		claims                    license.Claims
		scope, readTenant, global string
	}{
		{"no scope claim", legacy, "ingest", "false", "false"},
		{"read tenant", reader, "read", "true", "false"},
		{"global admin", admin, "admin", "false", "true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := s.postHTTP(t, bearer(s.key.issue(t, tc.claims)))
			require.Equal(t, http.StatusOK, code, body)
			auth := s.sink.last().info.Auth
			require.Equal(t, tc.scope, auth.GetAttribute(AttrScope))
			require.Equal(t, tc.readTenant, auth.GetAttribute(AttrReadTenant))
			require.Equal(t, tc.global, auth.GetAttribute(AttrGlobal))
			require.Subset(t, auth.GetAttributeNames(), []string{AttrScope, AttrReadTenant, AttrGlobal})
		})
	}
}

// Issue 17, finding 7: iss and aud are checked against the configuration; a legacy license (neither claim) is
// accepted and counted until require_issuer_audience is set.
func TestIssuerAudienceChecked(t *testing.T) {
	s := startServer(t, func(c *Config) { c.Issuer, c.Audience = "acme-licensing", "acme-collectors" })
	now := time.Now()
	mk := func(iss string, aud ...string) string {
		c := license.NewClaims("org-a", "tenant-a", "client-a", "", "", now, time.Hour)
		c.Issuer, c.Audience = iss, aud
		return s.key.issue(t, c)
	}
	good := mk("acme-licensing", "acme-collectors")
	code, body := s.postHTTP(t, bearer(good))
	require.Equal(t, http.StatusOK, code, body)
	for _, tc := range []struct {
		tok    string
		reason license.Reason
	}{
		{mk(license.Issuer, license.Audience), license.ReasonWrongIssuer}, // govctl's defaults are not this deployment's
		{mk("acme-licensing", "other"), license.ReasonWrongAudience},
		{mk("acme-licensing"), license.ReasonWrongAudience},
	} {
		code, body := s.postHTTP(t, bearer(tc.tok))
		require.Equal(t, http.StatusUnauthorized, code)
		require.Contains(t, body, string(tc.reason))
	}
	legacy := mk("")
	for range 3 {
		code, body = s.postHTTP(t, bearer(legacy))
		require.Equal(t, http.StatusOK, code, body)
	}
	metadatatest.AssertEqualLicenseauthLegacyLicenses(t, s.tel, []metricdata.DataPoint[int64]{{Value: 3}},
		metricdatatest.IgnoreTimestamp())

	strict := startServer(t, func(c *Config) { c.RequireIssuerAudience = true })
	code, body = strict.postHTTP(t, bearer(strict.key.issue(t, func() license.Claims {
		c := license.NewClaims("org-a", "tenant-a", "client-a", "", "", now, time.Hour)
		c.Issuer, c.Audience = "", nil
		return c
	}())))
	require.Equal(t, http.StatusUnauthorized, code)
	require.Contains(t, body, string(license.ReasonWrongIssuer))
	code, body = strict.postHTTP(t, bearer(strict.key.issue(t, license.NewClaims("org-a", "tenant-a", "client-a", "", "", now, time.Hour))))
	require.Equal(t, http.StatusOK, code, body, "a license issued now carries the default iss/aud")
}
