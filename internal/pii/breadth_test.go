package pii

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// blocks splits a testdata file into its values (separated by a line "%%%").
func blocks(t testing.TB, name string) []string {
	t.Helper()
	return strings.Split(readTestdata(t, name), "\n%%%\n")
}

// TestCredentialPayloads masks realistic snippets a developer pastes (curl, httpie, fetch, requests, Go, cloud
// credential files, payment SDK setup, .env files, UPI and NPWP text): every value listed in
// planted_credentials.txt must disappear, and every snippet must have a finding. On the engine before these
// detectors, 36 of the 44 planted values came through in the clear.
func TestCredentialPayloads(t *testing.T) {
	e := newEngine(t, Config{})
	planted := strings.Split(strings.TrimSpace(readTestdata(t, "planted_credentials.txt")), "\n")
	var out strings.Builder
	for _, b := range blocks(t, "credentials.txt") {
		r, err := e.Mask(b)
		require.NoError(t, err)
		require.NotEmpty(t, r.Types, "nothing found in %q", b)
		out.WriteString(r.Text)
		out.WriteByte('\n')
	}
	for _, p := range planted {
		require.NotContains(t, out.String(), p)
	}
}

// TestCodeLikeUnchanged: SHAs, UUIDs, lockfile integrity hashes, go.sum lines, image digests, snowflake ids, ARNs,
// base64 in code, placeholders, secret references and publishable keys come out byte-for-byte unchanged.
func TestCodeLikeUnchanged(t *testing.T) {
	e := newEngine(t, Config{})
	for _, b := range blocks(t, "codelike.txt") {
		f, err := e.Detect(b)
		require.NoError(t, err)
		require.Empty(t, f, "%q", b)
		r, err := e.Mask(b)
		require.NoError(t, err)
		require.Equal(t, b, r.Text)
	}
}

// TestAuthHeaderKeepsScheme: only the credential is masked; the scheme word and the header name stay readable.
func TestAuthHeaderKeepsScheme(t *testing.T) {
	e := newEngine(t, Config{})
	for in, want := range map[string]string{
		`-H "Authorization: Bearer SpFk_gMFIYtKhSWbBTkPRU2NFoylq2xqzuB7FAs2"`: `-H "Authorization: Bearer [REDACTED:auth_header]"`,
		`{'Authorization': 'Basic dXNlcjpwYXNz'}`:                             `{'Authorization': 'Basic [REDACTED:auth_header]'}`,
		`Authorization: lin_api_k3Jd8sPqL2mN5vX7zR9tY1wB4cF6hG0a`:             `Authorization: [REDACTED:auth_header]`,
		// a known key format inside the header keeps its own, more specific type
		`{"Authorization": "token ghp_k3Jd8sPqL2mN5vX7zR9tY1wB4cF6hG0aE2iU"}`:     `{"Authorization": "token [REDACTED:github_token]"}`,
		`Authorization: Bearer sk_test_gjcl7NSWShU8WownKBfl7fDf`:                  `Authorization: Bearer [REDACTED:payment_key]`,
		"Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.dozjgNryP4J3": "Authorization: Bearer [REDACTED:jwt]",
	} {
		r, err := e.Mask(in)
		require.NoError(t, err)
		require.Equal(t, want, r.Text)
	}
}

// TestSpecificTypeWins: a prefixed key assigned to a credential-named key is reported under its own type.
func TestSpecificTypeWins(t *testing.T) {
	e := newEngine(t, Config{})
	for in, want := range map[string]Type{
		"STRIPE_SECRET_KEY=sk_live_4cKjjRUXkXnAcWwhR3zAqhNy":                                TypePaymentKey,
		`stripe.api_key = "sk_test_gjcl7NSWShU8WownKBfl7fDf"`:                               TypePaymentKey,
		"AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY":                    TypeAWSSecretKey,
		`"private_key": "-----BEGIN PRIVATE KEY-----\nMIIEvQ\n-----END PRIVATE KEY-----\n"`: TypePrivateKey,
	} {
		r, err := e.Mask(in)
		require.NoError(t, err)
		require.Equal(t, []Type{want}, r.Types, in)
	}
}

// TestUPIAndEmail: an address with a dotted domain is an email, a bare known PSP handle makes a UPI VPA; the two
// types never claim the same value, and disabling one does not hand its values to the other.
func TestUPIAndEmail(t *testing.T) {
	all := newEngine(t, Config{})
	r, err := all.Mask("a.b@okhdfcbank.com and a.b@okhdfcbank and a.b@example.com")
	require.NoError(t, err)
	require.Equal(t, "[REDACTED:email] and [REDACTED:upi_vpa] and [REDACTED:email]", r.Text)

	emailOnly := newEngine(t, Config{Types: []Type{TypeEmail}})
	r, err = emailOnly.Mask("pay x@ybl or x@example.com")
	require.NoError(t, err)
	require.Equal(t, "pay x@ybl or [REDACTED:email]", r.Text)

	upiOnly := newEngine(t, Config{Types: []Type{TypeUPIVPA}})
	r, err = upiOnly.Mask("pay X@YBL or x@example.com")
	require.NoError(t, err)
	require.Equal(t, "pay [REDACTED:upi_vpa] or x@example.com", r.Text)
}

func TestCredentialRules(t *testing.T) {
	for _, v := range []string{"seX3UNDuwRSY1EM0tSn1W+TsWF23xz3iW0nbF7OT6ixKkmVR", "863eeb1d1aa425446368096776e2ba77",
		"k3Jd8sPqL2mN5vX7"} {
		require.True(t, highEntropy(v), v)
	}
	for _, v := range []string{
		"k3Jd8sPqL2mN5vX",                                        // 15 bytes
		"abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWX", // no digit
		"1143928572810780745",                  // a snowflake id
		"0f8fad5b-d9cb-469f-a165-70867728950e", // a UUID
		"aaaa1111aaaa1111aaaa",                 // low entropy
		"https://example.com/k3Jd8sPqL2mN5vX7", "/home/dev/keys/sa-1234.json", "~/keys/sa1234567890", "C:\\keys\\a1234567890",
		"sha512-XBx9AXhXktjUqnepgTiE5flcKIYWi", "sha256:863eeb1d1aa425446368096776e2ba77", "h1:68CPQngjLL0r2AlUKiSx1=",
		"pk_live_51UQudDfZFUWdGvIkgTxzsze",
	} {
		require.False(t, highEntropy(v), v)
	}
	for _, v := range []string{"your-key-here", "YOUR_API_KEY", "xxx", "XXXX-1234", "****", "...", "sk-...abcd",
		"changeme", "CHANGEME", "key_here", "PUT_TOKEN_HERE", "replace-me", "0000", "sk_live_xxxxxxxxxxxx"} {
		require.True(t, placeholder(v), v)
	}
	for _, v := range []string{"hunter2", "aaaaaaa", "topsecret", "s3cr3tvalue", "correct horse"} {
		require.False(t, placeholder(v), v)
	}
	for _, v := range []string{"process.env.OPENAI_API_KEY", "os.environ.get", "settings.SECRET_KEY", "var.db_password",
		"c.Token"} {
		require.True(t, codeRef(v), v)
	}
	for _, v := range []string{"hunter2", "my.secret.pass", "v1.2.3", "process.", ".env", "os..x"} {
		require.False(t, codeRef(v), v)
	}
	require.True(t, validBasic("dXNlcjpwYXNz"))             // user:pass
	require.True(t, validBasic("YWxhZGRpbjpvcGVuc2VzYW1l")) // aladdin:opensesame
	require.True(t, validBasic("c2tfbGl2ZV94eXo6"))         // sk_live_xyz: (key as user, empty password)
	require.False(t, validBasic("dXNlcg=="))                // "user": no colon
	require.False(t, validBasic("not base64"))
	require.False(t, validBasic("AAECAwQFBgc6")) // control bytes
	require.True(t, sasSignature("69d5sssfdNWcFH%2BnBfcktTvrZ%2BVeCIoLqKZmmlF6gqs%3D"))
	require.True(t, sasSignature("69d5sssfdNWcFH+nBfcktTvrZ+VeCIoLqKZmmlF6gqs="))
	require.False(t, sasSignature("69d5sssfdNWcFH%2BnBfcktTvrZ%2BVeCIoLqKZmmlF6g%3D")) // 31 bytes
	require.False(t, sasSignature("69d5sssfdNWcFH%2XnBfcktTvrZ%2BVeCIoLqKZmmlF6gqs%3D"))
	var buf [72]byte
	require.Equal(t, 64, decodeB64("XHh7SGo6cgFo2qi2QjyiOAJLTdBVqiTzvppPBco49JpABeQnzpuqoQd2dJmgtEv8OchPXEJryRZZfmyEpCzykA==", buf[:], true))
	require.Equal(t, -1, decodeB64("XHh7SGo6cgFo2qi2QjyiOAJLTdBVqiTzvppPBco49JpABeQnzpuqoQd2dJmgtEv8OchPXEJryRZZfmyEpCzykA", buf[:], true))
	require.Equal(t, -1, decodeB64("a=bc", buf[:], false))
}

func TestClassifyKey(t *testing.T) {
	cls := func(id string) int {
		if len(id) < 3 {
			return keyNone
		}
		return classifyKey(id, strings.ToLower(id[len(id)-3:]))
	}
	for id, want := range map[string]int{
		"DB_PASSWORD": keySecret, "client_secret": keySecret, "api-key": keySecret, "apiKey": keySecret,
		"GITHUB_TOKEN": keyToken, "max_tokens": keyNone, "DB_PASS": keyPass, "dbPass": keyPass, "bypass": keyNone,
		"Authorization": keyAuth, "proxy-authorization": keyAuth, "description": keyNone, "sig": keySAS,
		"signature_sig": keyNone, "aws_secret_access_key": keyAWSSecret, "SecretAccessKey": keyAWSSecret,
		"AWS_SECRET_KEY": keyAWSSecret, "AccountKey": keyAzure, "SharedAccessKey": keyAzure,
		"AZURE_STORAGE_KEY": keyAzure, "private_key_id": keyGCPKeyID, "privateKeyId": keyGCPKeyID,
		"SECRET_KEY": keyCredential, "encryption_key": keyCredential, "PrivateKey": keyCredential,
		"signingKey": keyCredential, "GOOGLE_CREDENTIALS": keyCredential, "creds": keyCredential,
		"SENTRY_KEYS": keyCredential, "SECRETKEY": keyCredential, "key": keyNone, "--key": keyNone,
		"primary_key": keyNone, "publicKey": keyNone, "cache_key": keyNone, "idempotency_key": keyNone,
		"monkey": keyNone, "data-key": keyNone, "client_id": keyNone, "access_key_id": keyNone,
	} {
		require.Equal(t, want, cls(id), id)
	}
}

func TestNPWPChecksum(t *testing.T) {
	for _, d := range []string{"013121660091000", "016090524017000", "021832415000000"} {
		require.True(t, npwpDigits(d), d)
	}
	for _, d := range []string{"123456789012345", "010000008091000", "01312166009100"} {
		require.False(t, npwpDigits(d), d)
	}
}
