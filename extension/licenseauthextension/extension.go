package licenseauthextension // import "github.com/govcol/govcol/extension/licenseauthextension"

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensionauth"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/govcol/govcol/extension/licenseauthextension/internal/metadata"
	"github.com/govcol/govcol/internal/license"
)

// Auth attribute names exposed through client.Info.Auth (defined once in internal/license, which the governance
// processor and the audit API read them from).
const (
	AttrOrgID      = license.AuthOrgID
	AttrTenantID   = license.AuthTenantID
	AttrClientID   = license.AuthClientID
	AttrTier       = license.AuthTier
	AttrLicenseID  = license.AuthLicenseID
	AttrEmail      = license.AuthEmail
	AttrScope      = license.AuthScope
	AttrReadTenant = license.AuthReadTenant
	AttrGlobal     = license.AuthGlobal
)

var (
	_ extension.Extension  = (*licenseAuth)(nil)
	_ extensionauth.Server = (*licenseAuth)(nil)
)

type licenseAuth struct {
	cfg       *Config
	logger    *zap.Logger
	telemetry *metadata.TelemetryBuilder

	verifier *license.Verifier
	cache    *lru.Cache[[sha256.Size]byte, *verified]
	now      func() time.Time

	revoked atomic.Pointer[map[string]struct{}]

	stop chan struct{}
	wg   sync.WaitGroup

	failureAttrs map[license.Reason]metric.AddOption
	legacyWarned atomic.Bool
}

// verified is a license whose signature and claims were checked; it is what the cache holds.
type verified struct {
	auth       *authData
	clientID   string
	licenseID  string
	legacy     bool      // no iss/aud: counted on every accepted request
	validUntil time.Time // exp + leeway: past it the entry is dropped and the license verified again (and refused)
}

var (
	cacheHit  = metric.WithAttributeSet(attribute.NewSet(attribute.String("cache", "hit")))
	cacheMiss = metric.WithAttributeSet(attribute.NewSet(attribute.String("cache", "miss")))
)

func newLicenseAuth(cfg *Config, set extension.Settings) (*licenseAuth, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	la := &licenseAuth{
		cfg:          cfg,
		logger:       set.Logger,
		telemetry:    tb,
		now:          time.Now,
		failureAttrs: map[license.Reason]metric.AddOption{},
	}
	for _, r := range license.AllReasons() {
		la.failureAttrs[r] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", string(r))))
	}
	empty := map[string]struct{}{}
	la.revoked.Store(&empty)
	return la, nil
}

// Start loads the keys and the revocation list; a broken key or revocation file fails the start, because running
// without them would either refuse everyone or accept revoked licenses.
func (la *licenseAuth) Start(_ context.Context, _ component.Host) error {
	keys, err := license.LoadKeySet(la.cfg.PublicKeyFiles, la.cfg.JWKSFile)
	if err != nil {
		return fmt.Errorf("licenseauth: %w", err)
	}
	la.verifier = license.NewVerifier(keys, la.cfg.Leeway).WithClock(func() time.Time { return la.now() }).
		WithIssuerAudience(la.cfg.Issuer, la.cfg.Audience, la.cfg.RequireIssuerAudience)
	if la.cfg.CacheSize > 0 {
		la.cache, err = lru.New[[sha256.Size]byte, *verified](la.cfg.CacheSize)
		if err != nil {
			return err
		}
	}
	if err := la.telemetry.RegisterLicenseauthRevocationsLoadedCallback(func(_ context.Context, o metric.Int64Observer) error {
		o.Observe(int64(len(*la.revoked.Load())))
		return nil
	}); err != nil {
		return err
	}
	la.stop = make(chan struct{})
	if la.cfg.RevocationFile != "" {
		st, err := la.loadRevocations()
		if err != nil {
			return fmt.Errorf("licenseauth: %w", err)
		}
		la.wg.Add(1)
		go la.watchRevocations(st)
	}
	la.logger.Info("license authenticator started", zap.Int("public_keys", len(keys)),
		zap.Int("revoked_licenses", len(*la.revoked.Load())))
	return nil
}

// Shutdown stops the revocation watcher.
func (la *licenseAuth) Shutdown(context.Context) error {
	if la.stop != nil {
		close(la.stop)
		la.wg.Wait()
		la.stop = nil
	}
	la.telemetry.Shutdown()
	return nil
}

type fileState struct {
	mod  time.Time
	size int64
}

func (la *licenseAuth) loadRevocations() (fileState, error) {
	f, err := os.Open(la.cfg.RevocationFile)
	if err != nil {
		return fileState{}, fmt.Errorf("read revocation file: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fileState{}, fmt.Errorf("stat revocation file: %w", err)
	}
	set := map[string]struct{}{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		set[line] = struct{}{}
	}
	if err := sc.Err(); err != nil {
		return fileState{}, fmt.Errorf("read revocation file: %w", err)
	}
	la.revoked.Store(&set)
	return fileState{mod: info.ModTime(), size: info.Size()}, nil
}

// watchRevocations polls the revocation file's modification time and size. Polling (rather than inotify) survives
// editors and config-management tools that replace the file by rename, and costs one stat per interval.
func (la *licenseAuth) watchRevocations(last fileState) {
	defer la.wg.Done()
	ticker := time.NewTicker(la.cfg.RevocationCheckInterval)
	defer ticker.Stop()
	for {
		select {
		case <-la.stop:
			return
		case <-ticker.C:
		}
		info, err := os.Stat(la.cfg.RevocationFile)
		if err != nil {
			la.logger.Warn("revocation file unreadable; keeping the previous list", zap.Error(err))
			continue
		}
		if info.ModTime().Equal(last.mod) && info.Size() == last.size {
			continue
		}
		st, err := la.loadRevocations()
		if err != nil {
			la.logger.Warn("revocation file reload failed; keeping the previous list", zap.Error(err))
			continue
		}
		last = st
		la.logger.Info("revocation list reloaded", zap.Int("revoked_licenses", len(*la.revoked.Load())))
	}
}

// Authenticate implements extensionauth.Server for both OTLP/gRPC and OTLP/HTTP.
func (la *licenseAuth) Authenticate(ctx context.Context, headers map[string][]string) (context.Context, error) {
	v, cached, err := la.authenticate(headers)
	if err != nil {
		reason := license.ReasonOf(err)
		la.telemetry.LicenseauthFailures.Add(ctx, 1, la.failureAttrs[reason])
		// Only the reason is logged: never the credential, and nothing from the request that could carry one.
		la.logger.Debug("license refused", zap.String("reason", string(reason)))
		return ctx, err
	}
	if v.legacy {
		la.telemetry.LicenseauthLegacyLicenses.Add(ctx, 1)
		if la.legacyWarned.CompareAndSwap(false, true) {
			la.logger.Warn("accepted a license without iss/aud (issued before they existed); reissue licenses with govctl "+
				"and set require_issuer_audience: true (counted in otelcol_licenseauth_legacy_licenses)",
				zap.String("license_id", v.licenseID))
		}
	}
	if cached {
		la.telemetry.LicenseauthSuccesses.Add(ctx, 1, cacheHit)
	} else {
		la.telemetry.LicenseauthSuccesses.Add(ctx, 1, cacheMiss)
	}
	info := client.FromContext(ctx)
	info.Auth = v.auth
	return client.NewContext(ctx, info), nil
}

func (la *licenseAuth) authenticate(headers map[string][]string) (*verified, bool, error) {
	token, basicClientID, err := la.credential(headers)
	if err != nil {
		return nil, false, err
	}
	v, cached, err := la.verify(token)
	if err != nil {
		return nil, false, err
	}
	if _, revoked := (*la.revoked.Load())[v.licenseID]; revoked {
		return nil, false, license.Refuse(license.ReasonRevoked)
	}
	if basicClientID != nil && subtle.ConstantTimeCompare([]byte(*basicClientID), []byte(v.clientID)) != 1 {
		return nil, false, license.Refuse(license.ReasonClientIDMismatch)
	}
	return v, cached, nil
}

// credential extracts the license from, in order: `Authorization: Bearer`, `Authorization: Basic
// base64(client_id:license)` and `X-License-Key`. For Basic it also returns the presented client id.
func (la *licenseAuth) credential(headers map[string][]string) (string, *string, error) {
	if auth := headerValue(headers, "authorization"); auth != "" {
		scheme, rest, _ := strings.Cut(auth, " ")
		rest = trimOWS(rest)
		switch {
		case strings.EqualFold(scheme, "bearer"):
			return la.checkSize(rest, nil)
		case strings.EqualFold(scheme, "basic"):
			if len(rest) > 2*la.cfg.MaxLicenseBytes {
				return "", nil, license.Refuse(license.ReasonMalformed)
			}
			// One spelling here too: padded standard base64 with zero trailing bits and no line breaks (which the
			// decoder would otherwise skip).
			if strings.ContainsAny(rest, "\r\n") {
				return "", nil, license.Refuse(license.ReasonMalformed)
			}
			raw, err := strictStd.DecodeString(rest)
			if err != nil {
				return "", nil, license.Refuse(license.ReasonMalformed)
			}
			clientID, lic, ok := bytes.Cut(raw, []byte{':'})
			if !ok || len(clientID) == 0 {
				return "", nil, license.Refuse(license.ReasonMalformed)
			}
			id := string(clientID)
			return la.checkSize(string(lic), &id)
		}
		// Another scheme: fall through to X-License-Key, and refuse as malformed if that is absent too.
		if key := headerValue(headers, "x-license-key"); key != "" {
			return la.checkSize(trimOWS(key), nil)
		}
		return "", nil, license.Refuse(license.ReasonMalformed)
	}
	if key := headerValue(headers, "x-license-key"); key != "" {
		return la.checkSize(trimOWS(key), nil)
	}
	return "", nil, license.Refuse(license.ReasonMissing)
}

// strictStd decodes the Basic credential: RFC 4648 standard base64 with padding and zero trailing bits.
var strictStd = base64.StdEncoding.Strict()

// trimOWS removes the optional whitespace (spaces and tabs, RFC 9110 section 5.6.3) around a header value, which is
// header syntax rather than part of the credential; HTTP servers strip it already. Nothing else is trimmed: any
// other character is left for the verifier, which accepts a license only in its one canonical spelling.
func trimOWS(s string) string { return strings.Trim(s, " \t") }

func (la *licenseAuth) checkSize(token string, clientID *string) (string, *string, error) {
	if token == "" {
		return "", nil, license.Refuse(license.ReasonMissing)
	}
	if len(token) > la.cfg.MaxLicenseBytes {
		return "", nil, license.Refuse(license.ReasonMalformed)
	}
	return token, clientID, nil
}

// verify answers from the cache when it can; otherwise it verifies the signature and claims and caches the result.
func (la *licenseAuth) verify(token string) (*verified, bool, error) {
	var key [sha256.Size]byte
	if la.cache != nil {
		key = sha256.Sum256([]byte(token))
		if v, ok := la.cache.Get(key); ok {
			if la.now().Before(v.validUntil) {
				return v, true, nil
			}
			la.cache.Remove(key)
		}
	}
	claims, err := la.verifier.Verify(token)
	if err != nil {
		return nil, false, err
	}
	v := &verified{
		auth:       newAuthData(claims),
		clientID:   claims.ClientID(),
		licenseID:  claims.LicenseID(),
		legacy:     claims.Legacy(),
		validUntil: claims.ExpiresAt.Add(la.cfg.Leeway),
	}
	if la.cache != nil {
		la.cache.Add(key, v)
	}
	return v, false, nil
}

// headerValue looks a header up case-insensitively: HTTP delivers canonical keys, gRPC lower-case ones.
func headerValue(headers map[string][]string, lowerName string) string {
	if v, ok := headers[lowerName]; ok && len(v) > 0 {
		return v[0]
	}
	for k, v := range headers {
		if len(v) > 0 && strings.EqualFold(k, lowerName) {
			return v[0]
		}
	}
	return ""
}

// authData is what client.Info.Auth exposes. It is cached with its license, so its values are boxed once here:
// GetAttribute returns them without converting a string to an interface (an allocation) on every call; the
// governance processor reads five of them per batch.
type authData struct {
	attrs map[string]any // of strings
	names []string
}

var _ client.AuthData = (*authData)(nil)

func newAuthData(c *license.Claims) *authData {
	attrs := map[string]any{
		AttrOrgID:      c.OrgID,
		AttrTenantID:   c.TenantID,
		AttrClientID:   c.ClientID(),
		AttrTier:       c.Tier,
		AttrLicenseID:  c.LicenseID(),
		AttrScope:      string(c.EffectiveScope()),
		AttrReadTenant: strconv.FormatBool(c.ReadTenant),
		AttrGlobal:     strconv.FormatBool(c.Global),
	}
	names := []string{AttrOrgID, AttrTenantID, AttrClientID, AttrTier, AttrLicenseID, AttrScope, AttrReadTenant, AttrGlobal}
	if c.Email != "" {
		attrs[AttrEmail] = c.Email
		names = append(names, AttrEmail)
	}
	return &authData{attrs: attrs, names: names}
}

// GetAttribute returns the named attribute as a string, or nil when absent.
func (a *authData) GetAttribute(name string) any {
	if v, ok := a.attrs[name]; ok {
		return v
	}
	return nil
}

// GetAttributeNames lists the attributes present.
func (a *authData) GetAttributeNames() []string { return a.names }
