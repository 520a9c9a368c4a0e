package governanceprocessor // import "github.com/govcol/govcol/processor/governanceprocessor"

import (
	"context"
	"errors"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/consumer/consumererror"

	"github.com/govcol/govcol/extension/licenseauthextension"
	"github.com/govcol/govcol/internal/audit"
)

// Request headers read for identity (looked up case-insensitively: HTTP delivers canonical keys, gRPC lower case).
const (
	headerUserEmail = "X-User-Email"
	headerSessionID = "X-Session-Id"
)

// maxEmailBytes is the RFC 5321 limit on an address.
const maxEmailBytes = 254

var errUnauthenticated = consumererror.NewPermanent(errors.New(
	"governance: the request carries no authenticated client information; put the licenseauth authenticator on the " +
		"receiver (with include_metadata: true), or set allow_unauthenticated with a default_tenant for local development"))

// identity is who sent a request: the tenant from the license, the developer from the license or the headers.
type identity struct {
	orgID, tenantID, clientID, licenseID, tier string
	userEmail, identitySource, attemptedEmail  string
	sessionHeader, gatewayID, clientHeader     string
}

// resolveIdentity applies DESIGN section 4. The tenant, org and client never come from the payload; the payload is
// not even consulted here.
func (g *governor) resolveIdentity(ctx context.Context) (identity, error) {
	info := client.FromContext(ctx)
	var id identity
	authAttr := func(k string) string {
		if info.Auth == nil {
			return ""
		}
		s, _ := info.Auth.GetAttribute(k).(string)
		return s
	}
	id.tenantID = authAttr(licenseauthextension.AttrTenantID)
	if id.tenantID == "" {
		if !g.cfg.AllowUnauthenticated {
			return identity{}, errUnauthenticated
		}
		d := g.cfg.DefaultTenant
		id.orgID, id.tenantID, id.clientID = d.OrgID, d.TenantID, d.ClientID
	} else {
		id.orgID = authAttr(licenseauthextension.AttrOrgID)
		id.clientID = authAttr(licenseauthextension.AttrClientID)
		id.licenseID = authAttr(licenseauthextension.AttrLicenseID)
		id.tier = authAttr(licenseauthextension.AttrTier)
	}

	header := func(k string) string {
		if v := info.Metadata.Get(k); len(v) > 0 {
			return capHeader(v[0], g.cfg.MaxHeaderValueBytes)
		}
		return ""
	}
	id.sessionHeader = header(headerSessionID)
	id.gatewayID = header(audit.HeaderGatewayID)
	id.clientHeader = header(audit.HeaderClient)

	licenseEmail, _ := normalizeEmail(authAttr(licenseauthextension.AttrEmail))
	var headerEmail string
	if v := info.Metadata.Get(headerUserEmail); len(v) > 0 {
		headerEmail, _ = normalizeEmail(v[0])
	}
	switch {
	case licenseEmail != "":
		id.userEmail, id.identitySource = licenseEmail, audit.IdentityLicense
		if headerEmail != "" && headerEmail != licenseEmail {
			id.attemptedEmail = headerEmail
		}
	case headerEmail != "" && g.cfg.TrustIdentityHeaders:
		id.userEmail, id.identitySource = headerEmail, audit.IdentityHeader
	default:
		id.userEmail, id.identitySource = "client:"+id.clientID, audit.IdentityFallback
		if headerEmail != "" {
			// An untrusted header is not an identity, but the claim is worth keeping.
			id.attemptedEmail = headerEmail
		}
	}
	return id, nil
}

// normalizeEmail trims, lower-cases and validates an address: one @, a non-empty local part of at most 64 bytes,
// a dotted domain, no spaces or control characters, at most 254 bytes. It reports false for anything else.
func normalizeEmail(s string) (string, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" || len(s) > maxEmailBytes || !utf8.ValidString(s) {
		return "", false
	}
	at := strings.IndexByte(s, '@')
	if at <= 0 || at > 64 || at != strings.LastIndexByte(s, '@') {
		return "", false
	}
	domain := s[at+1:]
	if len(domain) < 3 || !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return "", false
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || r == '<' || r == '>' || r == ',' || r == ';' || r == '"' || r == '\\' {
			return "", false
		}
	}
	return s, true
}

// capHeader trims a header value, drops control characters and cuts it to max bytes on a rune boundary.
func capHeader(s string, max int) string {
	s = strings.TrimSpace(s)
	clean := true
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] == 0x7f {
			clean = false
			break
		}
	}
	if !clean || !utf8.ValidString(s) {
		s = strings.Map(func(r rune) rune {
			if r < ' ' || r == 0x7f || r == utf8.RuneError {
				return -1
			}
			return r
		}, s)
	}
	return truncateUTF8(s, max)
}
