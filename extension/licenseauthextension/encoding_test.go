package licenseauthextension

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/govcol/govcol/extension/licenseauthextension/internal/metadatatest"
	"github.com/govcol/govcol/internal/license"
)

const b64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// flipUnusedBits returns the spellings of a base64 string (alphabet alpha) whose last character differs only in the
// bits the encoding does not use: a lenient decoder reads them all as the same bytes.
func flipUnusedBits(seg, alpha string, dataChars int) []string {
	unused := map[int]int{2: 4, 3: 2}[dataChars%4]
	last := strings.IndexByte(alpha, seg[dataChars-1])
	var out []string
	for v := 1; v < 1<<unused; v++ {
		out = append(out, seg[:dataChars-1]+string(alpha[last^v])+seg[dataChars:])
	}
	return out
}

// respellings are other spellings of the same license: the 15 other values of the signature's unused bits, padding,
// the standard alphabet, and line breaks (which Go's base64 decoders skip).
func respellings(tok string) map[string]string {
	parts := strings.Split(tok, ".")
	out := map[string]string{}
	for i, seg := range parts {
		name := []string{"header", "payload", "signature"}[i]
		with := func(s string) string {
			p := append([]string(nil), parts...)
			p[i] = s
			return strings.Join(p, ".")
		}
		if len(seg)%4 != 0 {
			for j, alt := range flipUnusedBits(seg, b64url, len(seg)) {
				out[fmt.Sprintf("%s trailing bits %d", name, j+1)] = with(alt)
			}
			out[name+" padded"] = with(seg + strings.Repeat("=", 4-len(seg)%4))
		}
		if std := strings.NewReplacer("-", "+", "_", "/").Replace(seg); std != seg {
			out[name+" standard alphabet"] = with(std)
		}
		out[name+" CRLF inside"] = with(seg[:len(seg)/2] + "\r\n" + seg[len(seg)/2:])
	}
	return out
}

// TestRespelledLicenseRefusedAndNeverCached: the extension accepts a license in its one canonical spelling only.
// Every other spelling, presented as Bearer, X-License-Key or inside Basic, is refused as malformed (and counted so),
// and none becomes a cache entry. Before strict decoding, the signature's 16 spellings (and its spellings with line
// breaks) were each accepted and each cached under its own key.
func TestRespelledLicenseRefusedAndNeverCached(t *testing.T) {
	s := startServer(t, nil)
	// The tier's length is chosen so that the Basic credential's own base64 ("client-a:<license>") has unused bits.
	var tok string
	for tier := "t"; ; tier += "t" {
		tok = s.key.issue(t, license.NewClaims("org-a", "tenant-a", "client-a", tier, "", time.Now(), time.Hour))
		if len("client-a:"+tok)%3 != 0 {
			break
		}
	}
	ctx := context.Background()

	_, err := s.ext.Authenticate(ctx, map[string][]string{"Authorization": {"Bearer " + tok}})
	require.NoError(t, err, "the canonical spelling is accepted")
	require.Equal(t, 1, s.ext.cache.Len())

	variants := respellings(tok)
	sigBits := 0
	for name := range variants {
		if strings.HasPrefix(name, "signature trailing bits") {
			sigBits++
		}
	}
	require.Equal(t, 15, sigBits)

	clientID := "client-a"
	basicOf := func(lic string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(clientID+":"+lic))
	}
	var refused int64
	for name, alt := range variants {
		for _, p := range []struct {
			name    string
			headers map[string][]string
		}{
			{"bearer", map[string][]string{"Authorization": {"Bearer " + alt}}},
			{"x-license-key", map[string][]string{"x-license-key": {alt}}},
			{"basic", map[string][]string{"authorization": {basicOf(alt)}}},
		} {
			t.Run(name+"/"+p.name, func(t *testing.T) {
				_, err := s.ext.Authenticate(ctx, p.headers)
				require.Error(t, err, "a re-spelled license must be refused")
				require.Equal(t, license.ReasonMalformed, license.ReasonOf(err))
			})
			refused++
		}
	}

	// The Basic credential itself has one spelling: its unused bits set is malformed, however good the license.
	canonicalBasic := base64.StdEncoding.EncodeToString([]byte(clientID + ":" + tok))
	data := strings.TrimRight(canonicalBasic, "=")
	for _, alt := range flipUnusedBits(canonicalBasic, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", len(data)) {
		_, err := s.ext.Authenticate(ctx, map[string][]string{"Authorization": {"Basic " + alt}})
		require.Equal(t, license.ReasonMalformed, license.ReasonOf(err), "Basic %q", alt)
		refused++
	}
	_, err = s.ext.Authenticate(ctx, map[string][]string{"Authorization": {"Basic " + canonicalBasic}})
	require.NoError(t, err, "the canonical Basic spelling is accepted")

	require.Equal(t, 1, s.ext.cache.Len(), "no re-spelling became a cache entry")
	metadatatest.AssertEqualLicenseauthFailures(t, s.tel, []metricdata.DataPoint[int64]{
		{Value: refused, Attributes: attribute.NewSet(attribute.String("reason", string(license.ReasonMalformed)))},
	}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualLicenseauthSuccesses(t, s.tel, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("cache", "miss"))},
		{Value: 1, Attributes: attribute.NewSet(attribute.String("cache", "hit"))},
	}, metricdatatest.IgnoreTimestamp())

	// Over a real connection too.
	alt := variants["signature trailing bits 1"]
	code, body := s.postHTTP(t, bearer(alt))
	require.Equal(t, http.StatusUnauthorized, code)
	require.Contains(t, body, string(license.ReasonMalformed))
	code, _ = s.postHTTP(t, bearer(tok))
	require.Equal(t, http.StatusOK, code)
}
