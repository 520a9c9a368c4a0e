package licenseauthextension

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/govcol/govcol/extension/licenseauthextension/internal/metadatatest"
	"github.com/govcol/govcol/internal/freeport"
	"github.com/govcol/govcol/internal/license"
)

// keyFixture is a signing key whose public half is written to a PEM file the extension loads.
type keyFixture struct {
	pub     ed25519.PublicKey
	priv    ed25519.PrivateKey
	pemPath string
}

func newKeyFixture(t testing.TB, dir string) keyFixture {
	t.Helper()
	pub, priv, err := license.GenerateKey()
	require.NoError(t, err)
	data, err := license.MarshalPublicKeyPEM(pub)
	require.NoError(t, err)
	path := filepath.Join(dir, license.KeyID(pub)[:8]+".pem")
	require.NoError(t, os.WriteFile(path, data, 0o600))
	return keyFixture{pub: pub, priv: priv, pemPath: path}
}

func (k keyFixture) issue(t testing.TB, c license.Claims) string {
	t.Helper()
	tok, err := license.Issue(k.priv, c)
	require.NoError(t, err)
	return tok
}

// capturedRequest is what reached the pipeline behind the receiver, with the client info the authenticator set.
type capturedRequest struct {
	info client.Info
	logs plog.Logs
}

type captureSink struct {
	mu   sync.Mutex
	reqs []capturedRequest
}

func (s *captureSink) consume(ctx context.Context, ld plog.Logs) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, capturedRequest{info: client.FromContext(ctx), logs: ld})
	return nil
}

func (s *captureSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reqs)
}

func (s *captureSink) last() capturedRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reqs[len(s.reqs)-1]
}

type testHost struct {
	component.Host
	exts map[component.ID]component.Component
}

func (h testHost) GetExtensions() map[component.ID]component.Component { return h.exts }

// server is a real OTLP receiver (gRPC and HTTP on loopback) authenticating with a licenseauth extension.
type server struct {
	httpURL  string
	grpcConn *grpc.ClientConn
	sink     *captureSink
	tel      *componenttest.Telemetry
	ext      *licenseAuth
	key      keyFixture
	dir      string
}

func freeAddr(t testing.TB) string {
	t.Helper()
	addr, err := freeport.Addr()
	require.NoError(t, err)
	return addr
}

func startServer(t testing.TB, mutate func(*Config)) *server {
	t.Helper()
	dir := t.TempDir()
	s := &server{dir: dir, key: newKeyFixture(t, dir), sink: &captureSink{}, tel: componenttest.NewTelemetry()}
	t.Cleanup(func() { require.NoError(t, s.tel.Shutdown(context.Background())) })

	cfg := createDefaultConfig().(*Config)
	cfg.PublicKeyFiles = []string{s.key.pemPath}
	cfg.RevocationFile = filepath.Join(dir, "revoked.txt")
	cfg.RevocationCheckInterval = 20 * time.Millisecond
	require.NoError(t, os.WriteFile(cfg.RevocationFile, []byte("# revoked licenses\n"), 0o600))
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(t, cfg.Validate())
	ext, err := NewFactory().Create(context.Background(), metadatatest.NewSettings(s.tel), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(context.Background())) })
	s.ext = ext.(*licenseAuth)

	grpcAddr, httpAddr := freeAddr(t), freeAddr(t)
	auth := map[string]any{"authenticator": "licenseauth"}
	cm := confmap.NewFromStringMap(map[string]any{"protocols": map[string]any{
		"grpc": map[string]any{"endpoint": grpcAddr, "include_metadata": true, "auth": auth},
		"http": map[string]any{"endpoint": httpAddr, "include_metadata": true, "auth": auth},
	}})
	rf := otlpreceiver.NewFactory()
	rcfg := rf.CreateDefaultConfig()
	require.NoError(t, cm.Unmarshal(rcfg))
	next, err := consumer.NewLogs(s.sink.consume)
	require.NoError(t, err)
	rcv, err := rf.CreateLogs(context.Background(), receivertest.NewNopSettings(rf.Type()), rcfg, next)
	require.NoError(t, err)
	host := testHost{Host: componenttest.NewNopHost(), exts: map[component.ID]component.Component{component.MustNewID("licenseauth"): ext}}
	require.NoError(t, rcv.Start(context.Background(), host))
	t.Cleanup(func() { require.NoError(t, rcv.Shutdown(context.Background())) })

	s.httpURL = "http://" + httpAddr + "/v1/logs"
	s.grpcConn, err = grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.grpcConn.Close() })
	return s
}

func sampleLogs() plog.Logs {
	ld := plog.NewLogs()
	lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.Body().SetStr("claude_code.user_prompt")
	// A payload trying to choose its own tenant: the authenticator must not care.
	lr.Attributes().PutStr("tenant_id", "spoofed-tenant")
	return ld
}

// postHTTP sends one OTLP/HTTP protobuf logs request and returns the status and body.
func (s *server) postHTTP(t *testing.T, headers map[string]string) (int, string) {
	t.Helper()
	body, err := plogotlp.NewExportRequestFromLogs(sampleLogs()).MarshalProto()
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, s.httpURL, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-protobuf")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(out)
}

// sendGRPC sends one OTLP/gRPC logs request with the headers as (lower-case) gRPC metadata.
func (s *server) sendGRPC(t *testing.T, headers map[string]string) error {
	t.Helper()
	md := metadata.MD{}
	for k, v := range headers {
		md.Set(strings.ToLower(k), v)
	}
	ctx, cancel := context.WithTimeout(metadata.NewOutgoingContext(context.Background(), md), 10*time.Second)
	defer cancel()
	_, err := plogotlp.NewGRPCClient(s.grpcConn).Export(ctx, plogotlp.NewExportRequestFromLogs(sampleLogs()))
	return err
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

func basic(clientID, tok string) map[string]string {
	return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(clientID+":"+tok))}
}

func TestRefusalsOverRealConnections(t *testing.T) {
	s := startServer(t, nil)
	now := time.Now()
	good := license.NewClaims("org-a", "tenant-a", "client-a", "standard", "", now, time.Hour)
	goodTok := s.key.issue(t, good)
	other := newKeyFixture(t, t.TempDir())
	forged := license.NewClaims("org-a", "tenant-a", "client-a", "", "", now, time.Hour)
	forgedParts := strings.Split(other.issue(t, forged), ".")
	goodParts := strings.Split(goodTok, ".")
	revokedClaims := license.NewClaims("org-a", "tenant-a", "client-a", "", "", now, time.Hour)
	revokedTok := s.key.issue(t, revokedClaims)
	require.NoError(t, os.WriteFile(s.ext.cfg.RevocationFile, []byte(revokedClaims.ID+"\n"), 0o600))
	require.Eventually(t, func() bool { _, ok := (*s.ext.revoked.Load())[revokedClaims.ID]; return ok }, 5*time.Second, 10*time.Millisecond)

	noneHeader := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"` + license.KeyID(s.key.pub) + `"}`))
	hsHeader := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","kid":"` + license.KeyID(s.key.pub) + `"}`))
	unknownKidHeader := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"EdDSA","kid":"unknown"}`))

	cases := []struct {
		name    string
		headers map[string]string
		reason  license.Reason
	}{
		{"missing", map[string]string{}, license.ReasonMissing},
		{"empty bearer", map[string]string{"Authorization": "Bearer "}, license.ReasonMissing},
		{"malformed", bearer("not.a-license"), license.ReasonMalformed},
		{"unknown scheme", map[string]string{"Authorization": "Digest abc"}, license.ReasonMalformed},
		{"basic without colon", map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("x"))}, license.ReasonMalformed},
		{"oversized", bearer(strings.Repeat("a", 9000)), license.ReasonMalformed},
		{"bad signature", bearer(goodParts[0] + "." + forgedParts[1] + "." + forgedParts[2]), license.ReasonBadSignature},
		{"unknown kid", bearer(unknownKidHeader + "." + goodParts[1] + "." + goodParts[2]), license.ReasonUnknownKID},
		{"alg none", bearer(noneHeader + "." + goodParts[1] + "."), license.ReasonBadAlgorithm},
		{"alg HS256", bearer(hsHeader + "." + goodParts[1] + "." + goodParts[2]), license.ReasonBadAlgorithm},
		{"expired", bearer(s.key.issue(t, license.NewClaims("o", "t", "c", "", "", now.Add(-3*time.Hour), time.Hour))), license.ReasonExpired},
		{"not yet valid", bearer(s.key.issue(t, license.NewClaims("o", "t", "c", "", "", now.Add(time.Hour), time.Hour))), license.ReasonNotYetValid},
		{"revoked", bearer(revokedTok), license.ReasonRevoked},
		{"client id mismatch", basic("client-b", goodTok), license.ReasonClientIDMismatch},
	}
	expected := map[license.Reason]int64{}
	for _, tc := range cases {
		t.Run(tc.name+"/http", func(t *testing.T) {
			code, body := s.postHTTP(t, tc.headers)
			require.Equal(t, http.StatusUnauthorized, code)
			require.Contains(t, body, string(tc.reason))
			for _, v := range tc.headers {
				if len(v) > 16 {
					require.NotContains(t, body, v[len(v)-16:], "the response must not echo the credential")
				}
			}
		})
		t.Run(tc.name+"/grpc", func(t *testing.T) {
			err := s.sendGRPC(t, tc.headers)
			require.Equal(t, codes.Unauthenticated, status.Code(err), "err: %v", err)
			require.Contains(t, status.Convert(err).Message(), string(tc.reason))
		})
		expected[tc.reason] += 2
	}
	require.Zero(t, s.sink.count(), "a refused request must not reach the pipeline")

	var dps []metricdata.DataPoint[int64]
	for _, r := range license.AllReasons() {
		if n := expected[r]; n > 0 {
			dps = append(dps, metricdata.DataPoint[int64]{Value: n, Attributes: attribute.NewSet(attribute.String("reason", string(r)))})
		}
	}
	metadatatest.AssertEqualLicenseauthFailures(t, s.tel, dps, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreValue())
	got, err := s.tel.GetMetric("otelcol_licenseauth_failures")
	require.NoError(t, err)
	sum := got.Data.(metricdata.Sum[int64])
	for _, dp := range sum.DataPoints {
		reason, _ := dp.Attributes.Value("reason")
		require.Equal(t, expected[license.Reason(reason.AsString())], dp.Value, "failures for %s", reason.AsString())
	}
}

func TestAcceptedPresentationsExposeAuthData(t *testing.T) {
	s := startServer(t, nil)
	now := time.Now()
	team := license.NewClaims("org-a", "tenant-a", "client-a", "enterprise", "", now, time.Hour)
	teamTok := s.key.issue(t, team)
	dev := license.NewClaims("org-b", "tenant-b", "client-b", "standard", "dev@example.com", now, time.Hour)
	devTok := s.key.issue(t, dev)

	cases := []struct {
		name    string
		headers map[string]string
		claims  license.Claims
	}{
		{"bearer", bearer(teamTok), team},
		{"bearer lower-case scheme", map[string]string{"authorization": "bearer " + teamTok}, team},
		{"basic", basic("client-a", teamTok), team},
		{"x-license-key", map[string]string{"X-License-Key": devTok}, dev},
		{"per-developer bearer", bearer(devTok), dev},
	}
	for _, tc := range cases {
		for _, proto := range []string{"http", "grpc"} {
			t.Run(tc.name+"/"+proto, func(t *testing.T) {
				before := s.sink.count()
				if proto == "http" {
					code, body := s.postHTTP(t, tc.headers)
					require.Equal(t, http.StatusOK, code, body)
				} else {
					require.NoError(t, s.sendGRPC(t, tc.headers))
				}
				require.Equal(t, before+1, s.sink.count())
				auth := s.sink.last().info.Auth
				require.NotNil(t, auth)
				require.Equal(t, tc.claims.OrgID, auth.GetAttribute(AttrOrgID))
				require.Equal(t, tc.claims.TenantID, auth.GetAttribute(AttrTenantID))
				require.Equal(t, tc.claims.Subject, auth.GetAttribute(AttrClientID))
				require.Equal(t, tc.claims.Tier, auth.GetAttribute(AttrTier))
				require.Equal(t, tc.claims.ID, auth.GetAttribute(AttrLicenseID))
				if tc.claims.Email != "" {
					require.Equal(t, tc.claims.Email, auth.GetAttribute(AttrEmail))
					require.Contains(t, auth.GetAttributeNames(), AttrEmail)
				} else {
					require.Nil(t, auth.GetAttribute(AttrEmail))
					require.NotContains(t, auth.GetAttributeNames(), AttrEmail)
				}
				// include_metadata still delivers the request headers next to the auth data.
				md := s.sink.last().info.Metadata
				require.NotEmpty(t, append(md.Get("authorization"), md.Get("x-license-key")...))
			})
		}
	}
}

func TestCacheHonoursRevocationAndExpiry(t *testing.T) {
	s := startServer(t, func(c *Config) { c.Leeway = 0 })
	clock := time.Now()
	var mu sync.Mutex
	s.ext.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }

	claims := license.NewClaims("o", "t", "c", "", "", clock, time.Minute)
	tok := s.key.issue(t, claims)
	headers := map[string][]string{"authorization": {"Bearer " + tok}}

	_, err := s.ext.Authenticate(context.Background(), headers)
	require.NoError(t, err)
	_, cached, err := s.ext.authenticate(headers)
	require.NoError(t, err)
	require.True(t, cached, "the second request is answered from the cache")

	// Expiry: a cached license stops working once exp passes.
	advance(2 * time.Minute)
	_, err = s.ext.Authenticate(context.Background(), headers)
	require.Equal(t, license.ReasonExpired, license.ReasonOf(err))

	// Revocation: a cached license is refused as soon as the list is reloaded.
	claims2 := license.NewClaims("o", "t", "c", "", "", clock, time.Hour)
	tok2 := s.key.issue(t, claims2)
	headers2 := map[string][]string{"Authorization": {"Bearer " + tok2}}
	_, err = s.ext.Authenticate(context.Background(), headers2)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(s.ext.cfg.RevocationFile, []byte("# list\n\n"+claims2.ID+"\n"), 0o600))
	require.Eventually(t, func() bool {
		_, err := s.ext.Authenticate(context.Background(), headers2)
		return license.ReasonOf(err) == license.ReasonRevoked
	}, 5*time.Second, 10*time.Millisecond)

	metadatatest.AssertEqualLicenseauthRevocationsLoaded(t, s.tel, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
}

func TestStartFailsOnBadFiles(t *testing.T) {
	dir := t.TempDir()
	key := newKeyFixture(t, dir)
	bad := filepath.Join(dir, "bad.pem")
	require.NoError(t, os.WriteFile(bad, []byte("not a pem"), 0o600))
	for name, cfg := range map[string]*Config{
		"missing key file":        {PublicKeyFiles: []string{filepath.Join(dir, "nope.pem")}},
		"garbage key file":        {PublicKeyFiles: []string{bad}},
		"missing revocation file": {PublicKeyFiles: []string{key.pemPath}, RevocationFile: filepath.Join(dir, "nope.txt")},
	} {
		t.Run(name, func(t *testing.T) {
			def := createDefaultConfig().(*Config)
			def.PublicKeyFiles, def.RevocationFile = cfg.PublicKeyFiles, cfg.RevocationFile
			ext, err := NewFactory().Create(context.Background(), metadatatest.NewSettings(componenttest.NewTelemetry()), def)
			require.NoError(t, err)
			require.Error(t, ext.Start(context.Background(), componenttest.NewNopHost()))
		})
	}
}

// BenchmarkAuthenticate compares a full verification (cache disabled) with a steady stream of the same license
// answered by the cache. The ratio cached/full is reported in the README.
func BenchmarkAuthenticate(b *testing.B) {
	for _, mode := range []struct {
		name  string
		cache int
	}{{"full_verification", 0}, {"cached", 4096}} {
		b.Run(mode.name, func(b *testing.B) {
			s := startBenchExtension(b, mode.cache)
			tok := s.key.issue(b, license.NewClaims("org", "tenant", "client", "standard", "dev@example.com", time.Now(), time.Hour))
			headers := map[string][]string{
				"Content-Type": {"application/x-protobuf"}, "User-Agent": {"OTel-OTLP-Exporter-JavaScript/0.208.0"},
				"Authorization": {"Bearer " + tok}, "X-User-Email": {"dev@example.com"},
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := s.ext.Authenticate(ctx, headers); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func startBenchExtension(b *testing.B, cacheSize int) *server {
	dir := b.TempDir()
	s := &server{key: newKeyFixture(b, dir), tel: componenttest.NewTelemetry()}
	cfg := createDefaultConfig().(*Config)
	cfg.PublicKeyFiles = []string{s.key.pemPath}
	cfg.CacheSize = cacheSize
	ext, err := NewFactory().Create(context.Background(), metadatatest.NewSettings(s.tel), cfg)
	require.NoError(b, err)
	require.NoError(b, ext.Start(context.Background(), componenttest.NewNopHost()))
	b.Cleanup(func() { _ = ext.Shutdown(context.Background()) })
	s.ext = ext.(*licenseAuth)
	return s
}
