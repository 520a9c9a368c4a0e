package governanceprocessor // import "github.com/govcol/govcol/processor/governanceprocessor"

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"golang.org/x/net/idna"

	"github.com/govcol/govcol/internal/audit"
	lic "github.com/govcol/govcol/internal/license"
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

// resolveIdentity applies docs/ARCHITECTURE.md §4. The tenant, org and client never come from the payload; the
// payload is not even consulted here.
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
	id.tenantID = authAttr(lic.AuthTenantID)
	if id.tenantID == "" {
		if !g.cfg.AllowUnauthenticated {
			return identity{}, errUnauthenticated
		}
		d := g.cfg.DefaultTenant
		id.orgID, id.tenantID, id.clientID = d.OrgID, d.TenantID, d.ClientID
	} else {
		id.orgID = authAttr(lic.AuthOrgID)
		id.clientID = authAttr(lic.AuthClientID)
		id.licenseID = authAttr(lic.AuthLicenseID)
		id.tier = authAttr(lic.AuthTier)
	}

	// Identity headers (docs/ARCHITECTURE.md §4, README "Identity headers"): a value with an invisible or look-alike
	// character, or otherwise invalid, is refused: it is treated as absent, counted, and never stored in any form.
	header := func(k string, check func(string) (string, string)) string {
		v := info.Metadata.Get(k)
		if len(v) == 0 {
			return ""
		}
		val, reason := check(v[0])
		if reason != "" {
			g.telemetry.GovernanceIdentityHeadersRefused.Add(ctx, 1, metric.WithAttributeSet(attribute.NewSet(
				attribute.String("header", strings.ToLower(k)), attribute.String("header_reason", reason))))
		}
		return val
	}
	checkValue := func(s string) (string, string) { return checkHeaderValue(s, g.cfg.MaxHeaderValueBytes) }
	// The session id is stored (session_id column, decision objects): it must be an identifier the engine finds
	// nothing in, like the session.id attribute it replaces.
	checkSession := func(s string) (string, string) {
		v, reason := checkValue(s)
		if reason == "" && v != "" && !g.masker.isIdentifier(v) {
			return "", refusedInvalid
		}
		return v, reason
	}
	id.sessionHeader = header(headerSessionID, checkSession)
	id.gatewayID = header(headerGatewayID, checkValue)
	id.clientHeader = header(headerClient, checkValue)

	// The license's email is signed by the operator; it still passes the same rule (and is stored the same way).
	licenseEmail, _ := g.emails.check(authAttr(lic.AuthEmail))
	headerEmail := header(headerUserEmail, g.emails.check)
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

// Why an identity header value was refused: the values of the header_reason attribute.
const (
	refusedControl     = "control_character" // Unicode Cc: C0 (NUL, CR, LF, ...), DEL and C1 (U+0080-U+009F, e.g. U+0085 NEL)
	refusedFormat      = "format_character"  // Unicode Cf (bidi controls such as U+202E, zero-width characters, BOM, soft hyphen, tags), variation selectors and other default-ignorable characters
	refusedMixedScript = "mixed_script"      // one label mixes scripts (e.g. Latin and Cyrillic)
	refusedInvalid     = "invalid"           // anything else outside the rule (see checkEmail, checkHeaderValue)
)

// emailMemo remembers checkEmail's result per input for the request's identity (the license's and the header's
// address): a developer's requests carry the same address, and checking it (scripts, IDNA) costs ≈ 0.7 µs and 7
// allocations a batch. checkEmail is a pure function, so a remembered result is the result. At most maxEmailMemo
// addresses are remembered; the others are checked every time.
type emailMemo struct {
	mu sync.RWMutex
	m  map[string]emailCheck
}

type emailCheck struct{ email, reason string }

const maxEmailMemo = 4096

func (em *emailMemo) check(raw string) (string, string) {
	em.mu.RLock()
	c, ok := em.m[raw]
	em.mu.RUnlock()
	if ok {
		return c.email, c.reason
	}
	email, reason := checkEmail(raw)
	em.mu.Lock()
	if em.m == nil {
		em.m = map[string]emailCheck{}
	}
	if len(em.m) < maxEmailMemo {
		em.m[strings.Clone(raw)] = emailCheck{email, reason}
	}
	em.mu.Unlock()
	return email, reason
}

// maxRawEmailBytes bounds the input to IDNA processing; the converted address is then held to maxEmailBytes.
const maxRawEmailBytes = 4 * maxEmailBytes

// normalizeEmail applies checkEmail and reports whether the address passed. Empty input is not an address.
func normalizeEmail(s string) (string, bool) {
	email, _ := checkEmail(s)
	return email, email != ""
}

// checkEmail validates an address and returns it in its one stored form, or "" and why it was refused. Empty (or
// blank) input is absent: ("", ""). The rule:
//
//   - the surrounding spaces and tabs (HTTP optional whitespace) are trimmed; nothing else is;
//   - no control character (Cc, including C1 such as U+0085), no format character (Cf: bidi controls, zero-width
//     characters, BOM, soft hyphen, ...) nor any other invisible (default-ignorable) character, anywhere;
//   - exactly one ASCII "@";
//   - the local part is ASCII only: 1-64 characters of the RFC 5322 dot-atom (letters, digits and
//     !#$%&'*+-/=?^_`{|}~, with dots neither first, last nor doubled), lower-cased;
//   - the domain is converted with IDNA (UTS #46 lookup profile, golang.org/x/net/idna.Lookup: case and width
//     folding, STD3 letters-digits-hyphen labels, bidi and joiner rules) to its ASCII form, and is stored in that
//     form: a non-ASCII domain is kept as its punycode A-labels ("bücher.example" -> "xn--bcher-kva.example"), so a
//     stored domain reads as an ASCII domain only when it is one;
//   - no label of the domain (in its Unicode form, whether it was sent as Unicode or as xn--), nor the local part,
//     mixes scripts, beyond the combinations UTS #39 "highly restrictive" allows (Latin with Han, Hiragana and
//     Katakana; with Han and Bopomofo; with Han and Hangul);
//   - at least two non-empty labels; at most 254 bytes in the stored form.
func checkEmail(raw string) (string, string) {
	s := trimHeaderOWS(raw)
	if s == "" {
		return "", ""
	}
	if reason := invisibleCharacter(s); reason != "" {
		return "", reason
	}
	if len(s) > maxRawEmailBytes {
		return "", refusedInvalid
	}
	at := strings.IndexByte(s, '@')
	if at < 0 || at != strings.LastIndexByte(s, '@') {
		return "", refusedInvalid
	}
	local, domain := s[:at], s[at+1:]
	if mixesScripts(local) {
		return "", refusedMixedScript
	}
	for _, label := range strings.FieldsFunc(domain, isLabelDot) {
		if mixesScripts(label) {
			return "", refusedMixedScript
		}
	}
	if !dotAtom(local) {
		return "", refusedInvalid
	}
	ascii, err := idna.Lookup.ToASCII(domain)
	if err != nil {
		return "", refusedInvalid
	}
	labels := strings.Split(ascii, ".")
	if len(labels) < 2 {
		return "", refusedInvalid
	}
	for _, label := range labels {
		if label == "" || len(label) > 63 {
			return "", refusedInvalid
		}
		if strings.HasPrefix(label, "xn--") {
			// Sent as Unicode or as an A-label: the script rule holds for what the label displays as.
			u, err := idna.Lookup.ToUnicode(label)
			if err != nil {
				return "", refusedInvalid
			}
			if mixesScripts(u) {
				return "", refusedMixedScript
			}
		}
	}
	email := strings.ToLower(local) + "@" + ascii
	if len(email) > maxEmailBytes {
		return "", refusedInvalid
	}
	return email, ""
}

// checkHeaderValue validates X-Session-Id, X-Axonflow-Gateway-Id and X-Axonflow-Client: after trimming the
// surrounding spaces and tabs, printable ASCII only (0x20-0x7E, which is also all gRPC allows in a text metadata
// value) and at most max bytes. It returns the value, or "" and why it was refused; empty input is absent ("", "").
// An over-long value is refused, not cut: a truncated id would be a different id.
func checkHeaderValue(raw string, max int) (string, string) {
	s := trimHeaderOWS(raw)
	if s == "" {
		return "", ""
	}
	if reason := invisibleCharacter(s); reason != "" {
		return "", reason
	}
	if mixesScripts(s) {
		return "", refusedMixedScript
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return "", refusedInvalid
		}
	}
	if len(s) > max {
		return "", refusedInvalid
	}
	return s, ""
}

// trimHeaderOWS removes the optional whitespace around a header value (spaces and tabs, RFC 9110 section 5.6.3).
// Unicode spaces (U+0085, U+00A0, ...) are not trimmed: they are refused with the rest of the value.
func trimHeaderOWS(s string) string { return strings.Trim(s, " \t") }

// invisibleCharacter reports why s cannot be shown faithfully: invalid UTF-8, a control character (Cc: C0, DEL,
// C1) or an invisible one (Cf format characters, variation selectors, other default-ignorable code points such as
// U+034F or U+3164). It returns "" when there is none.
func invisibleCharacter(s string) string {
	if !utf8.ValidString(s) {
		return refusedInvalid
	}
	for _, r := range s {
		if r < utf8.RuneSelf {
			if r < 0x20 || r == 0x7f {
				return refusedControl
			}
			continue
		}
		switch {
		case unicode.Is(unicode.Cc, r):
			return refusedControl
		case unicode.Is(unicode.Cf, r), unicode.Is(unicode.Variation_Selector, r),
			unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r):
			return refusedFormat
		}
	}
	return ""
}

// isLabelDot reports the characters IDNA treats as label separators.
func isLabelDot(r rune) bool { return r == '.' || r == '\u3002' || r == '\uff0e' || r == '\uff61' }

// dotAtom reports whether a local part is an ASCII RFC 5322 dot-atom of at most 64 characters.
func dotAtom(s string) bool {
	if s == "" || len(s) > 64 || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(".!#$%&'*+-/=?^_`{|}~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// The script sets UTS #39 "highly restrictive" allows together: one script, or a subset of one of these.
var allowedScriptSets = [][]string{
	{"Latin", "Han", "Hiragana", "Katakana"},
	{"Latin", "Han", "Bopomofo"},
	{"Latin", "Han", "Hangul"},
}

// mixesScripts reports whether the letters of s come from more than one script, beyond allowedScriptSets.
// Characters of the Common and Inherited scripts (digits, punctuation, combining marks) belong to any script.
func mixesScripts(s string) bool {
	var seen []string
	for _, r := range s {
		sc := scriptOf(r)
		if sc == "" || slices.Contains(seen, sc) {
			continue
		}
		seen = append(seen, sc)
	}
	if len(seen) < 2 {
		return false
	}
	for _, set := range allowedScriptSets {
		all := true
		for _, sc := range seen {
			all = all && slices.Contains(set, sc)
		}
		if all {
			return false
		}
	}
	return true
}

// commonScripts are tried first: nearly every character an identity header carries is in one of them.
var commonScripts = []string{"Latin", "Cyrillic", "Greek", "Armenian", "Han", "Hiragana", "Katakana", "Hangul",
	"Arabic", "Hebrew", "Devanagari", "Thai", "Cherokee", "Georgian", "Bopomofo"}

// scriptOf returns the Unicode script of r, or "" for Common, Inherited and unassigned characters.
func scriptOf(r rune) string {
	if r < utf8.RuneSelf {
		if c := r | 0x20; 'a' <= c && c <= 'z' {
			return "Latin"
		}
		return ""
	}
	if unicode.Is(unicode.Common, r) || unicode.Is(unicode.Inherited, r) {
		return ""
	}
	for _, name := range commonScripts {
		if unicode.Is(unicode.Scripts[name], r) {
			return name
		}
	}
	for name, table := range unicode.Scripts {
		if name != "Common" && name != "Inherited" && unicode.Is(table, r) {
			return name
		}
	}
	return ""
}
