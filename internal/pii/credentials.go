package pii

import (
	"math"
	"strings"
)

// ---- key names ----

// Key classes of an assignment key (see classifyKey). The order matters: classes after keyAuth only match keys at a
// token boundary, classes from keyAWSSecret on are validated by credentialValue.
const (
	keyNone = iota
	keySecret
	keyToken // ends with "token": short all-digit values are counts
	keyPass  // last word "pass": short all-digit values are counts
	keyAuth  // ...authorization: an HTTP Authorization header value
	keyAWSSecret
	keyAzure
	keySAS
	keyGCPKeyID
	keyCredential
)

// keyWordStart returns where the last word of an identifier starts: after the last '_', '-' or '.', or at the last
// lower-to-upper case change (apiKey -> Key, API_KEY -> KEY, SecretAccessKey -> Key).
func keyWordStart(id string) int {
	j := len(id)
	for j > 0 && isAlnum(id[j-1]) {
		if isUpper(id[j-1]) && j >= 2 && isLower(id[j-2]) {
			return j - 1
		}
		j--
	}
	return j
}

// nonSecretKeyWords are the words that, before "key", name a key that is not a credential: a database, cache or
// sort key, a public key, a map key.
var nonSecretKeyWords = [...]string{"public", "pub", "host", "primary", "foreign", "sort", "partition", "cache",
	"routing", "idempotency", "hash", "row", "lookup", "map", "dedup", "dedupe", "shard", "hot", "short", "join",
	"unique", "composite", "natural", "surrogate", "group", "range", "object", "index", "translation", "i18n",
	"message", "label", "field", "column", "table", "dict", "cursor", "page", "search", "node", "item", "entry",
	"list", "order", "react", "storage", "local", "session", "query", "state", "sequence", "event", "data",
	"websocket", "socket", "want", "got", "expected"}

// classifyKey returns the key class of an assignment key (an identifier, env var or --flag) whose last three bytes,
// lower-cased, are tri. Keys ending (case-insensitively) with password, passwd, secret, passphrase, token, api_key,
// apikey or api-key take any literal value (secret_assignment); "pwd" is deliberately absent: PWD is the shell's
// working directory.
func classifyKey(id, tri string) int {
	hasSuffix := func(w string) bool { return len(id) >= len(w) && strings.EqualFold(id[len(id)-len(w):], w) }
	switch tri {
	case "ord", "swd", "ret", "ase":
		if hasSuffix("password") || hasSuffix("passwd") || hasSuffix("secret") || hasSuffix("passphrase") {
			return keySecret
		}
		return keyNone
	case "ken":
		if hasSuffix("token") {
			return keyToken
		}
		return keyNone
	case "ion":
		if hasSuffix("authorization") {
			return keyAuth
		}
		return keyNone
	case "sig":
		if id == "sig" {
			return keySAS
		}
		return keyNone
	case "key":
		if hasSuffix("api_key") || hasSuffix("apikey") || hasSuffix("api-key") {
			return keySecret
		}
	}
	ws := keyWordStart(id)
	word := id[ws:]
	switch tri {
	case "ass":
		if strings.EqualFold(word, "pass") {
			return keyPass
		}
		return keyNone
	case "ial", "als", "eds":
		if strings.EqualFold(word, "credential") || strings.EqualFold(word, "credentials") ||
			strings.EqualFold(word, "creds") {
			return keyCredential
		}
		return keyNone
	}
	// "key", "eys" and "id" endings: compare the identifier lower-cased without separators
	// (aws_secret_access_key, SecretAccessKey -> secretaccesskey)
	var buf [64]byte
	n := 0
	for k := 0; k < len(id) && n < len(buf); k++ {
		if c := id[k]; c != '_' && c != '-' && c != '.' {
			buf[n] = lower(c)
			n++
		}
	}
	norm := buf[:n]
	ends := func(w string) bool { return len(norm) >= len(w) && string(norm[len(norm)-len(w):]) == w }
	switch {
	case ends("privatekeyid"):
		return keyGCPKeyID
	case tri != "key" && tri != "eys":
		return keyNone
	case ends("secretaccesskey") || ends("awssecretkey"):
		return keyAWSSecret
	case string(norm) == "accountkey" || string(norm) == "sharedaccesskey" || ends("storagekey") ||
		ends("storageaccountkey"):
		return keyAzure
	case strings.EqualFold(word, "key") || strings.EqualFold(word, "keys"):
		pe := ws
		for pe > 0 && (id[pe-1] == '_' || id[pe-1] == '-' || id[pe-1] == '.') {
			pe--
		}
		if pe == 0 {
			return keyNone // a bare "key" (YAML maps, React, query strings) is too generic
		}
		prev := id[keyWordStart(id[:pe]):pe]
		for _, w := range nonSecretKeyWords {
			if strings.EqualFold(prev, w) {
				return keyNone
			}
		}
		return keyCredential
	case ends("secretkey") || ends("privatekey") || ends("accesskey") || ends("encryptionkey") ||
		ends("signingkey") || ends("masterkey"):
		return keyCredential
	}
	return keyNone
}

// ---- values that are not literal secrets ----

// codeRoots are the first segments of unquoted dotted references that read a secret from somewhere
// (process.env.API_KEY, settings.SECRET_KEY, var.db_password) instead of containing it.
var codeRoots = [...]string{"process", "os", "env", "environ", "settings", "config", "cfg", "conf", "self", "this",
	"secrets", "vars", "var", "local", "data", "module", "options", "opts", "args", "params", "props", "ctx",
	"context", "app", "request", "req", "window", "globalThis", "Deno", "Bun", "System", "credentials", "creds",
	"session", "st", "import", "values", "Values", "cli", "flags", "opt", "c", "s", "o", "r", "p"}

// codeRef reports an unquoted dotted identifier path whose first segment is one of codeRoots.
func codeRef(v string) bool {
	dot := strings.IndexByte(v, '.')
	if dot <= 0 || dot == len(v)-1 {
		return false
	}
	for k := 0; k < len(v); k++ {
		c := v[k]
		if !(isAlnum(c) || c == '_' || c == '$' || (c == '.' && k > 0 && v[k-1] != '.')) {
			return false
		}
	}
	root := v[:dot]
	for _, r := range codeRoots {
		if root == r {
			return true
		}
	}
	return false
}

// dottedIdent reports a dotted path of identifiers (sf2.order_key, cliOptions.sshPassphrase, a.b.c): at least two
// segments, each starting with a letter, '_' or '$' and made of letters, digits, '_' and '$'.
func dottedIdent(v string) bool {
	segs := 0
	start := true
	for k := 0; k < len(v); k++ {
		c := v[k]
		switch {
		case c == '.':
			if start {
				return false
			}
			start = true
			continue
		case start:
			if !isAlpha(c) && c != '_' && c != '$' {
				return false
			}
			segs++
			start = false
		case !isAlnum(c) && c != '_' && c != '$':
			return false
		}
	}
	return segs >= 2 && !start
}

// identifier reports a programming-language identifier: a letter or '_' then letters, digits and '_'.
func identifier(v string) bool {
	if v == "" || !(isAlpha(v[0]) || v[0] == '_') {
		return false
	}
	for k := 1; k < len(v); k++ {
		if !isAlnum(v[k]) && v[k] != '_' {
			return false
		}
	}
	return true
}

// wordIdent reports an identifier made of words (v4aCredentialProvider, transportCredsForS2A): at most a quarter
// upper-case letters and an eighth digits, where random base62 has about 40 % and 16 %.
func wordIdent(v string) bool {
	if !identifier(v) {
		return false
	}
	up, dg := 0, 0
	for k := 0; k < len(v); k++ {
		if isUpper(v[k]) {
			up++
		} else if isDigit(v[k]) {
			dg++
		}
	}
	return up*4 <= len(v) && dg*8 <= len(v)
}

// camel reports a lower-to-upper case change (sshPassphrase, getToken): identifiers, not literal passwords.
func camel(v string) bool {
	for k := 1; k < len(v); k++ {
		if isUpper(v[k]) && isLower(v[k-1]) {
			return true
		}
	}
	return false
}

// wordy reports names made of words: at least two segments split at '_', '-', '.', each all letters or at most 3
// bytes (s3_use_arn_region, ec2_metadata_v1_disabled): configuration names, not random secrets.
func wordy(v string) bool {
	segs, n, letters := 0, 0, true
	for k := 0; k <= len(v); k++ {
		if k == len(v) || v[k] == '_' || v[k] == '-' || v[k] == '.' {
			if n == 0 || (!letters && n > 3) {
				return false
			}
			segs++
			n, letters = 0, true
			continue
		}
		if !isAlnum(v[k]) {
			return false
		}
		letters = letters && isAlpha(v[k])
		n++
	}
	return segs >= 2
}

// placeholders are values (compared case-insensitively) that stand for a secret in documentation and templates.
var placeholders = [...]string{"changeme", "change_me", "change-me", "changeit", "change-it", "placeholder",
	"redacted", "dummy", "example", "sample", "secret", "password", "passwd", "token", "apikey", "api_key",
	"api-key", "todo", "tbd", "fixme", "replaceme", "replace_me", "replace-me", "notset", "not_set", "unset",
	"empty", "none", "null"}

// placeholder reports documentation placeholders: your-key-here, YOUR_API_KEY, xxx, ****, "...", changeme, ...
func placeholder(v string) bool {
	if v == "" {
		return true
	}
	// one pass for elisions and masked displays: xxxx (any case), ****, ..., …
	run, prev := 0, byte(0)
	for k := 0; k < len(v); k++ {
		c := v[k]
		if c|0x20 == 'x' {
			c = 'x'
		}
		if c == prev {
			run++
		} else {
			run, prev = 1, c
		}
		if (run >= 4 && (c == 'x' || c == '*')) || (run >= 3 && c == '.') ||
			(c == 0xE2 && k+2 < len(v) && v[k+1] == 0x80 && v[k+2] == 0xA6) {
			return true // sk_live_xxxxxxxx, ****, sk-...abcd, sk-…abcd
		}
	}
	if strings.IndexByte("xX*.-_#?0", v[0]) >= 0 {
		same := true
		for k := 1; k < len(v); k++ {
			if v[k] != v[0] {
				same = false
				break
			}
		}
		if same {
			return true // xxx, ***, --, 0000
		}
	}
	if len(v) >= 4 && strings.EqualFold(v[:4], "your") {
		return true
	}
	for _, p := range [...]string{"replace_", "replace-", "insert_", "insert-", "enter_", "enter-", "put_", "put-",
		"paste_", "paste-"} {
		if len(v) >= len(p) && strings.EqualFold(v[:len(p)], p) {
			return true
		}
	}
	if len(v) >= 6 {
		t := v[len(v)-5:]
		if (t[0] == '_' || t[0] == '-' || t[0] == ' ') && strings.EqualFold(t[1:], "here") {
			return true // key-here, PUT_TOKEN_HERE
		}
	}
	if len(v) <= len("placeholder") {
		for _, p := range placeholders {
			if strings.EqualFold(v, p) {
				return true
			}
		}
	}
	return false
}

// codeValue reports assignment values that are code, templates or placeholders rather than literal secrets:
// variable references and templates ($X, ${X}, {{x}}, <x>, %s), calls and indexes (os.getenv(...), env["X"],
// contained anywhere when strict or unquoted), dotted references (process.env.X) and placeholders.
func codeValue(v string, kind int, strict bool) bool {
	switch v[0] {
	case '$', '{', '<', '%', '[', '(', '*':
		return true
	}
	if (strict || kind == 0) && strings.ContainsAny(v, "([<") {
		return true
	}
	if strings.Contains(v, "${") || strings.Contains(v, "{{") {
		return true
	}
	return placeholder(v) || (kind == 0 && codeRef(v))
}

// ---- high-entropy values ----

// entropy returns the Shannon entropy of v in bits per byte (of its first 256 bytes).
func entropy(v string) float64 {
	if len(v) > 256 {
		v = v[:256]
	}
	var cnt [256]uint16
	for k := 0; k < len(v); k++ {
		cnt[v[k]]++
	}
	n := float64(len(v))
	h := 0.0
	for _, c := range cnt {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}

// isUUID reports the 8-4-4-4-12 hex form.
func isUUID(v string) bool {
	if len(v) != 36 {
		return false
	}
	for k := 0; k < 36; k++ {
		switch k {
		case 8, 13, 18, 23:
			if v[k] != '-' {
				return false
			}
		default:
			if !isHex(v[k]) {
				return false
			}
		}
	}
	return true
}

// classes reports which of digits, upper- and lower-case letters v contains.
func classes(v string) (d, u, l bool) {
	for k := 0; k < len(v); k++ {
		c := v[k]
		d = d || isDigit(c)
		u = u || isUpper(c)
		l = l || isLower(c)
	}
	return
}

// digestPrefixes start hashes and digests that are assigned to keys in lockfiles and manifests.
var digestPrefixes = [...]string{"sha1-", "sha256-", "sha384-", "sha512-", "sha1:", "sha256:", "sha512:", "md5:",
	"h1:"}

// publishablePrefixes start payment keys that are meant to be public (embedded in web pages).
var publishablePrefixes = [...]string{"pk_live_", "pk_test_", "rzp_live_", "rzp_test_", "xnd_public_", "Mid-client-",
	"SB-Mid-client-"}

// highEntropy is the credential_assignment value rule: at least 16 bytes, at least one digit and one letter,
// Shannon entropy of at least 3 bits per byte, and not a UUID, an all-digit id, a URL, a file path or a hash digest.
func highEntropy(v string) bool {
	if len(v) < 16 {
		return false
	}
	d, u, l := classes(v)
	if !d || !(u || l) {
		return false
	}
	if isUUID(v) || strings.Contains(v, "://") || strings.ContainsAny(v, " \t") {
		return false
	}
	switch {
	case v[0] == '~' || v[0] == '.':
		return false // a path
	case v[0] == '/' && strings.ContainsAny(v, "._-"):
		return false // a path (standard base64 has no . _ -)
	case v[0] == '/' && !strings.ContainsAny(v, "+=ABCDEFGHIJKLMNOPQRSTUVWXYZ"):
		return false // a lower-case path: /api/v1/document/12345678
	case strings.IndexByte(v, '\\') >= 0:
		return false // an escaped string literal, not key material
	case len(v) > 2 && v[1] == ':' && (v[2] == '\\' || v[2] == '/'):
		return false // C:\ path
	}
	for _, p := range digestPrefixes {
		if len(v) > len(p) && strings.EqualFold(v[:len(p)], p) {
			return false
		}
	}
	for _, p := range publishablePrefixes {
		if strings.HasPrefix(v, p) {
			return false
		}
	}
	return entropy(v) >= 3.0
}

// ---- base64 ----

func b64val(c byte) int {
	switch {
	case isUpper(c):
		return int(c - 'A')
	case isLower(c):
		return int(c-'a') + 26
	case isDigit(c):
		return int(c-'0') + 52
	case c == '+':
		return 62
	case c == '/':
		return 63
	}
	return -1
}

// decodeB64 decodes standard base64 (padding optional unless strict) into dst and returns the decoded length, or
// -1 when v is not base64 or does not fit.
func decodeB64(v string, dst []byte, strict bool) int {
	pad := 0
	for len(v) > 0 && v[len(v)-1] == '=' && pad < 2 {
		v = v[:len(v)-1]
		pad++
	}
	if (strict && (len(v)+pad)%4 != 0) || len(v)%4 == 1 || (pad > 0 && (len(v)+pad)%4 != 0) {
		return -1
	}
	n, acc, bits := 0, 0, 0
	for k := 0; k < len(v); k++ {
		x := b64val(v[k])
		if x < 0 {
			return -1
		}
		acc = acc<<6 | x
		bits += 6
		if bits >= 8 {
			bits -= 8
			if n == len(dst) {
				return -1
			}
			dst[n] = byte(acc >> bits)
			n++
			acc &= 1<<bits - 1
		}
	}
	return n
}

// validBasic reports HTTP Basic credentials: base64 of "user:password" (printable ASCII, with a colon).
func validBasic(v string) bool {
	if len(v) < 8 {
		return false
	}
	var buf [384]byte
	n := decodeB64(v, buf[:], false)
	if n < 3 {
		return false
	}
	colon := false
	for _, c := range buf[:n] {
		if c < 0x20 || c >= 0x7f {
			return false // printable ASCII only: an English word after "Basic " decodes to binary
		}
		colon = colon || c == ':'
	}
	return colon
}

// ---- cloud credentials and other key-named values ----

// credentialValue validates the value s[v:end] of a cloud or credential key (classes from keyAWSSecret on) and
// records it: an AWS secret access key is 40 base64 bytes mixing digits and cases; an Azure account or shared
// access key is strict base64 of 32 or 64 bytes; a SAS signature is the URL-encoded base64 of a 32-byte HMAC; a
// GCP private_key_id is 40 lower-case hex digits; anything else must pass highEntropy (credential_assignment).
func (sc *scanner) credentialValue(cls, v, end, kind int, q byte) {
	s := sc.s
	val := s[v:end]
	switch cls {
	case keyAWSSecret:
		if sc.on(iAWSSecretKey) && len(val) == 40 && (end == len(s) || !isTokenByte(s[end])) {
			ok := true
			for k := 0; k < 40 && ok; k++ {
				ok = b64val(val[k]) >= 0
			}
			if ok && mixed(val) {
				sc.add(TypeAWSSecretKey, v, end)
				sc.assignEnd = end
				return
			}
		}
	case keyAzure:
		var buf [72]byte
		if n := decodeB64(val, buf[:], true); sc.on(iAzureKey) && (n == 32 || n == 64) {
			sc.add(TypeAzureKey, v, end)
			sc.assignEnd = end
			return
		}
	case keySAS:
		if sc.on(iAzureKey) && sasSignature(val) {
			sc.add(TypeAzureKey, v, end)
			sc.assignEnd = end
		}
		return
	case keyGCPKeyID:
		if sc.on(iGCPServiceAccount) && len(val) == 40 {
			for k := 0; k < 40; k++ {
				if !isHex(val[k]) || isUpper(val[k]) {
					return
				}
			}
			sc.add(TypeGCPServiceAccount, v, end)
			sc.assignEnd = end
		}
		return
	}
	if !sc.on(iCredentialAssignment) || strings.HasPrefix(val, "-----BEGIN ") || codeValue(val, kind, false) ||
		!highEntropy(val) || wordy(val) || dottedIdent(val) || strings.ContainsAny(val, ",{") ||
		(kind == 0 && wordIdent(val)) || strings.HasSuffix(val, "/aws4_request") {
		return // a PEM block is left to the private_key detector; names, lists, struct tags, code references and
		// SigV4 credential scopes (the key id inside is aws_access_key) are not secrets
	}
	if kind != 0 && end-v < maxValueScan && (end >= len(s) || (s[end] != q && s[end] != '\\')) {
		return // a quoted literal must close on its line: otherwise the quote was a closing one
	}
	if end-v >= maxValueScan {
		end = valueEnd(s, end, len(s), kind, q)
	}
	sc.add(TypeCredentialAssignment, v, end)
	sc.assignEnd = end
}

// sasSignature reports an Azure SAS sig= value: URL-encoded standard base64 of a 32-byte HMAC-SHA256.
func sasSignature(v string) bool {
	if len(v) < 43 || len(v) > 64 {
		return false
	}
	var raw [64]byte
	n := 0
	for k := 0; k < len(v); k++ {
		c := v[k]
		if c == '%' {
			if k+2 >= len(v) {
				return false
			}
			switch {
			case strings.EqualFold(v[k+1:k+3], "2B"):
				c = '+'
			case strings.EqualFold(v[k+1:k+3], "2F"):
				c = '/'
			case strings.EqualFold(v[k+1:k+3], "3D"):
				c = '='
			default:
				return false
			}
			k += 2
		}
		raw[n] = c
		n++
	}
	var out [48]byte
	return decodeB64(string(raw[:n]), out[:], false) == 32
}

// ---- HTTP Authorization header values ----

// credByte reports bytes of an Authorization credential: printable ASCII except quotes, backslash and the
// punctuation that ends a value in code.
func credByte(c byte) bool {
	if c <= ' ' || c >= 0x7f {
		return false
	}
	switch c {
	case '"', '\'', '`', '\\', ',', ';', ')', '(', '}', ']', '>', '<', '&':
		return false
	}
	return true
}

// credEnd returns the end of a credential starting at c, reading at most limit bytes.
func credEnd(s string, c, limit int) int {
	lim := min(len(s), c+limit)
	for c < lim && credByte(s[c]) {
		c++
	}
	return c
}

// tokenish is the rule for an opaque credential: at least min bytes, a digit (or both cases, 20+ bytes and no dot:
// resp.Request.Header.Get is code), not a placeholder, template or code reference.
func tokenish(v string, min int) bool {
	if len(v) < min {
		return false
	}
	d, u, l := classes(v)
	if !d && !(u && l && len(v) >= 20 && strings.IndexByte(v, '.') < 0) {
		return false
	}
	return !codeValue(v, 0, true)
}

// authSchemes are HTTP authentication scheme words (IANA registry and common vendor schemes); an unknown first word
// is a scheme only when it does not itself look like a credential.
var authSchemes = [...]string{"Basic", "Bearer", "Token", "Bot", "Digest", "Negotiate", "NTLM", "HOBA", "Mutual",
	"vapid", "SCRAM-SHA-1", "SCRAM-SHA-256", "OAuth", "DPoP", "GNAP", "ApiKey", "Api-Key", "Key", "sso-key", "SSWS",
	"Splunk", "GenieKey", "JWT", "SharedKey", "SharedKeyLite", "SharedAccessSignature", "Hawk", "MAC", "PAT",
	"Private-Token", "Klaviyo-API-Key", "DeepL-Auth-Key", "AWS4-HMAC-SHA256", "GOOG4-RSA-SHA256"}

// signatureScheme reports request-signing schemes (AWS4-HMAC-SHA256, AWS2-HMAC-SHA1, GOOG4-RSA-SHA256, …),
// case-insensitively and without allocating.
func signatureScheme(w string) bool {
	if len(w) >= 4 && (strings.EqualFold(w[:3], "AWS") || strings.EqualFold(w[:4], "GOOG")) {
		return true
	}
	for k := 0; k+4 <= len(w); k++ {
		if strings.EqualFold(w[k:k+4], "HMAC") {
			return true
		}
	}
	return false
}

// authValue masks the credential of an Authorization header value starting at v: "<scheme> <credential>" (the
// scheme word is kept) or a single credential. Basic credentials must decode to "user:password"; other schemes
// need tokenish(8); a credential without a scheme needs tokenish(16).
func (sc *scanner) authValue(v int, quoted bool) {
	s := sc.s
	j := v
	for j < len(s) && j-v < 32 && (isAlnum(s[j]) || s[j] == '-' || s[j] == '_') {
		j++
	}
	c := v
	basic := false
	if j > v && j < len(s) && s[j] == ' ' && isAlpha(s[v]) {
		scheme := s[v:j]
		known := false
		for _, w := range authSchemes {
			if strings.EqualFold(scheme, w) {
				known = true
				break
			}
		}
		if known || !tokenish(scheme, 16) {
			if signatureScheme(scheme) {
				return // a request signature: the key id inside is aws_access_key, the signature is single-use
			}
			basic = strings.EqualFold(scheme, "basic")
			c = j
			for c < len(s) && c-j < 4 && s[c] == ' ' {
				c++
			}
		}
	}
	end := credEnd(s, c, maxValueScan)
	cred := s[c:end]
	switch {
	case cred == "" || maskTokenLen(s, c) > 0 || (end < len(s) && s[end] == '('):
		return // nothing, a mask token, or a call: req.headers.get(...)
	case !quoted && dottedIdent(cred):
		return // authorization: sigv4auth.AlgorithmName + …: code
	case basic:
		if !validBasic(cred) {
			return
		}
	case c == v:
		if !tokenish(cred, 16) {
			return
		}
	default:
		if !tokenish(cred, 8) {
			return
		}
	}
	if end-c >= maxValueScan {
		end = credEnd(s, end, len(s))
	}
	sc.add(TypeAuthHeader, c, end)
	sc.assignEnd = max(sc.assignEnd, end)
}

// authCall handles "Authorization" (capital A at i) used as an argument or index rather than a key:
// Header.Set("Authorization", "Bearer …"), ("Authorization", "…"), headers["Authorization"] = "…". The "key: value"
// and "key=value" forms are handled by assignment.
func (sc *scanner) authCall(i int) {
	s := sc.s
	j := i + len("Authorization")
	if j+4 > len(s) || s[i:j] != "Authorization" {
		return
	}
	if s[j] == '\\' {
		j++
	}
	if s[j] != '"' && s[j] != '\'' {
		return
	}
	j++
	if j < len(s) && s[j] == ']' {
		j++
	}
	for j < len(s) && s[j] == ' ' {
		j++
	}
	if j >= len(s) || (s[j] != ',' && s[j] != '=') {
		return
	}
	if s[j] == '=' && s[j-1] != ']' && s[j-1] != ' ' {
		return
	}
	j++
	for j < len(s) && j-i < 64 && s[j] == ' ' {
		j++
	}
	if j < len(s) && s[j] == '\\' {
		j++
	}
	if j >= len(s) || (s[j] != '"' && s[j] != '\'' && s[j] != '`') {
		return
	}
	sc.authValue(j+1, true)
}

// upperB handles "Bearer <token>" and "Basic <base64>" wherever they appear (string concatenations, logs, prose):
// outside a header a bearer token needs tokenish(16).
func (sc *scanner) upperB(i int) {
	s := sc.s
	if i < sc.assignEnd || !boundaryBefore(s, i) || i+8 > len(s) {
		return
	}
	var c int
	basic := false
	switch {
	case s[i+1] == 'e' && strings.HasPrefix(s[i:], "Bearer "):
		c = i + 7
	case s[i+1] == 'a' && strings.HasPrefix(s[i:], "Basic "):
		c = i + 6
		basic = true
	default:
		return
	}
	for c < len(s) && c-i < 10 && s[c] == ' ' {
		c++
	}
	end := credEnd(s, c, maxValueScan)
	cred := s[c:end]
	if cred == "" || maskTokenLen(s, c) > 0 || (end < len(s) && s[end] == '(') {
		return
	}
	if basic {
		if !validBasic(cred) {
			return
		}
	} else if !tokenish(cred, 16) {
		return
	}
	if end-c >= maxValueScan {
		end = credEnd(s, end, len(s))
	}
	sc.add(TypeAuthHeader, c, end)
	sc.assignEnd = max(sc.assignEnd, end)
}

// ---- payment-provider secret keys ----

// alnumEnd returns the end of a run of ASCII letters and digits from i, reading at most max bytes.
func alnumEnd(s string, i, max int) int {
	lim := min(len(s), i+max)
	for i < lim && isAlnum(s[i]) {
		i++
	}
	return i
}

// letterDigit reports that v has both a letter and a digit.
func letterDigit(v string) bool {
	d, u, l := classes(v)
	return d && (u || l)
}

// paymentUnderscore handles prefixed payment secrets whose prefix ends with '_' at i: Stripe sk_live_/sk_test_/
// rk_live_/rk_test_ and whsec_, Xendit xnd_production_/xnd_development_, PayPal/Braintree
// access_token$production$…, and the key secret that follows a Razorpay key id rzp_live_/rzp_test_.
func (sc *scanner) paymentUnderscore(i int) {
	s := sc.s
	if i < sc.secretEnd || i < 2 {
		return
	}
	switch s[i-1] {
	case 'k': // sk_live_, rk_test_
		if (s[i-2] != 's' && s[i-2] != 'r') || !boundaryBefore(s, i-2) {
			return
		}
		if !strings.HasPrefix(s[i+1:], "live_") && !strings.HasPrefix(s[i+1:], "test_") {
			return
		}
		end := alnumEnd(s, i+6, maxSecretScan)
		if end-i-6 >= 20 && letterDigit(s[i+6:end]) {
			sc.addSecret(TypePaymentKey, i-2, end)
		}
	case 'c': // whsec_
		if i < 5 || s[i-5:i] != "whsec" || !boundaryBefore(s, i-5) {
			return
		}
		end := alnumEnd(s, i+1, maxSecretScan)
		if end-i-1 >= 24 && letterDigit(s[i+1:end]) {
			sc.addSecret(TypePaymentKey, i-5, end)
		}
	case 'd': // xnd_production_, xnd_development_ (xnd_public_… keys are publishable)
		if i < 3 || s[i-3:i] != "xnd" || !boundaryBefore(s, i-3) {
			return
		}
		b := i + 1
		switch {
		case strings.HasPrefix(s[b:], "production_"):
			b += len("production_")
		case strings.HasPrefix(s[b:], "development_"):
			b += len("development_")
		default:
			return
		}
		end := tokenEndMax(s, b, maxSecretScan)
		if end-b >= 40 && letterDigit(s[b:end]) {
			sc.addSecret(TypePaymentKey, i-3, end)
		}
	case 's': // access_token$production$<16 [a-z0-9]>$<32 hex>
		if i < 6 || s[i-6:i] != "access" || !boundaryBefore(s, i-6) {
			return
		}
		b := i + 1
		switch {
		case strings.HasPrefix(s[b:], "token$production$"):
			b += len("token$production$")
		case strings.HasPrefix(s[b:], "token$sandbox$"):
			b += len("token$sandbox$")
		default:
			return
		}
		if b+16+1+32 > len(s) || s[b+16] != '$' || !boundaryAfter(s, b+49) {
			return
		}
		for k := b; k < b+16; k++ {
			if !isDigit(s[k]) && !isLower(s[k]) {
				return
			}
		}
		for k := b + 17; k < b+49; k++ {
			if !isHex(s[k]) {
				return
			}
		}
		sc.add(TypePaymentKey, i-6, b+49)
		sc.secretEnd = b + 49
	case 'p': // rzp_live_<14> then the 24-character key secret: ("rzp_live_…", "…") or rzp_live_…:…
		if i < 3 || s[i-3:i] != "rzp" || !boundaryBefore(s, i-3) {
			return
		}
		if !strings.HasPrefix(s[i+1:], "live_") && !strings.HasPrefix(s[i+1:], "test_") {
			return
		}
		id := i + 6
		idEnd := alnumEnd(s, id, 16)
		if idEnd-id != 14 || (idEnd < len(s) && isWordByte(s[idEnd])) {
			return
		}
		k := idEnd
		for k < len(s) && k-idEnd < 6 && (s[k] == '"' || s[k] == '\'' || s[k] == ',' || s[k] == ':' || s[k] == ' ') {
			k++
		}
		if k == idEnd {
			return
		}
		end := alnumEnd(s, k, 32)
		if end-k == 24 && boundaryAfter(s, end) && letterDigit(s[k:end]) {
			sc.add(TypePaymentKey, k, end)
			sc.secretEnd = end
		}
	}
}

// paymentDash handles prefixed payment secrets whose prefix ends with '-' at i: Square sq0csp-/sq0atp-,
// Flutterwave FLWSECK-/FLWSECK_TEST-, Midtrans (SB-)Mid-server-.
func (sc *scanner) paymentDash(i int) {
	s := sc.s
	switch s[i-1] {
	case 'p': // sq0csp-, sq0atp-
		if i < 6 || (s[i-6:i] != "sq0csp" && s[i-6:i] != "sq0atp") || !boundaryBefore(s, i-6) {
			return
		}
		end := tokenEndMax(s, i+1, maxSecretScan)
		if end-i-1 >= 22 && letterDigit(s[i+1:end]) {
			sc.addSecret(TypePaymentKey, i-6, end)
		}
	case 'K', 'T': // FLWSECK-, FLWSECK_TEST-
		start := -1
		if i >= 7 && s[i-7:i] == "FLWSECK" {
			start = i - 7
		} else if i >= 12 && s[i-12:i] == "FLWSECK_TEST" {
			start = i - 12
		}
		if start < 0 || !boundaryBefore(s, start) {
			return
		}
		end := tokenEndMax(s, i+1, maxSecretScan)
		if end-i-1 >= 32 && letterDigit(s[i+1:end]) {
			sc.addSecret(TypePaymentKey, start, end)
		}
	case 'd': // Mid-server-, SB-Mid-server- (Mid-client- keys are publishable)
		if i < 3 || s[i-3:i] != "Mid" || !boundaryBefore(s, i-3) || !strings.HasPrefix(s[i+1:], "server-") {
			return
		}
		start := i - 3
		if start >= 3 && s[start-3:start] == "SB-" && boundaryBefore(s, start-3) {
			start -= 3
		}
		b := i + 1 + len("server-")
		end := tokenEndMax(s, b, maxSecretScan)
		if end-b >= 20 && letterDigit(s[b:end]) {
			sc.addSecret(TypePaymentKey, start, end)
		}
	}
}
