package pii

import (
	"strings"
	"time"
)

// Byte classes for the single-pass scan. Only trigger bytes dispatch to a validator; every other byte costs one
// table load.
const (
	cDigit = 1 + iota
	cAt
	cColon
	cEquals
	cDash
	cUnderscore
	cUpperA
	cUpperB
	cUpperJ
	cBracket
)

var class = func() (t [256]uint8) {
	for c := '0'; c <= '9'; c++ {
		t[c] = cDigit
	}
	t['@'] = cAt
	t[':'] = cColon
	t['='] = cEquals
	t['-'] = cDash
	t['_'] = cUnderscore
	t['A'] = cUpperA
	t['B'] = cUpperB
	t['J'] = cUpperJ
	t['['] = cBracket
	return t
}()

// scanner holds the state of one scan; it lives on the stack.
type scanner struct {
	e        *Engine
	s        string
	found    []Finding
	deadline time.Duration // on clock
	timedOut bool
	steps    int
	done     bool // a finding runs to the end of the value: nothing left to scan
	// secretEnd is the end of the last accepted prefixed secret: triggers inside it are skipped, which keeps runs
	// such as "sk-sk-sk-…" linear.
	secretEnd int
	assignEnd int // end of the last accepted assignment value
}

func (sc *scanner) on(i int) bool { return sc.e.enabled[i] }

func (sc *scanner) add(t Type, start, end int) {
	if end > start {
		sc.found = append(sc.found, Finding{Type: t, Start: start, End: end})
	}
}

// run is the main loop: it finds the next trigger byte and lets the matching validators look around it.
func (sc *scanner) run() {
	s := sc.s
	e := sc.e
	for i := 0; i < len(s); i++ {
		c := class[s[i]]
		if c == 0 {
			continue
		}
		if e.timeout > 0 {
			sc.steps++
			if sc.steps&255 == 0 && clock() > sc.deadline {
				sc.timedOut = true
				return
			}
		}
		switch c {
		case cDigit:
			if i > 0 && isDigit(s[i-1]) {
				continue
			}
			j := i + 1
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			if e.numeric {
				sc.numeric(i, j)
			}
			i = j - 1
		case cAt:
			if e.at {
				sc.email(i)
			}
		case cColon:
			if i+2 < len(s) && s[i+1] == '/' && s[i+2] == '/' {
				if sc.on(iURLPassword) {
					sc.urlPassword(i)
				}
				continue
			}
			if e.assign {
				sc.assignment(i)
			}
			if sc.on(iIPAddress) {
				if n := sc.ipv6(i); n > i {
					i = n - 1
				}
			}
		case cEquals:
			if e.assign {
				sc.assignment(i)
			}
		case cDash:
			sc.dash(i)
		case cUnderscore:
			if sc.on(iGitHubToken) {
				sc.github(i)
			}
			if sc.on(iPaymentKey) {
				sc.paymentUnderscore(i)
			}
		case cUpperA:
			sc.upperA(i)
		case cUpperB:
			if sc.on(iAuthHeader) {
				sc.upperB(i)
			}
		case cUpperJ:
			if sc.on(iJWT) && i >= 2 && s[i-2] == 'e' && s[i-1] == 'y' {
				sc.jwt(i - 2)
			}
		case cBracket:
			if n := maskTokenLen(s, i); n > 0 {
				i += n - 1
			}
		}
		if sc.done {
			return
		}
	}
}

// ---- character helpers ----

func isDigit(c byte) bool { return c-'0' < 10 }
func isUpper(c byte) bool { return c-'A' < 26 }
func isLower(c byte) bool { return c-'a' < 26 }
func isAlpha(c byte) bool { return isUpper(c) || isLower(c) }
func isAlnum(c byte) bool { return isDigit(c) || isAlpha(c) }
func isHex(c byte) bool   { return isDigit(c) || (c|0x20)-'a' < 6 }

// isWordByte reports bytes that continue an identifier-like token (so a match next to one is not at a boundary).
func isWordByte(c byte) bool { return isAlnum(c) || c == '_' || c >= 0x80 }

// isTokenByte reports bytes of base64url-ish secret bodies.
func isTokenByte(c byte) bool { return isAlnum(c) || c == '_' || c == '-' }

func lower(c byte) byte {
	if isUpper(c) {
		return c | 0x20
	}
	return c
}

// boundaryBefore reports whether position i starts a token (preceded by nothing or a non-word byte).
func boundaryBefore(s string, i int) bool { return i == 0 || !isWordByte(s[i-1]) }

// boundaryAfter reports whether position i ends a token.
func boundaryAfter(s string, i int) bool { return i >= len(s) || !isWordByte(s[i]) }

// maskTokenLen returns the length of a mask token ([REDACTED:<type>], [REDACTED:credit_card:****1234] or
// [<type>:<8 hex>]) starting at s[i], or 0. Tokens are skipped so masking is idempotent.
func maskTokenLen(s string, i int) int {
	const maxTok = 48
	j := i + 1
	for j < len(s) && j-i < maxTok && (isAlnum(s[j]) || s[j] == '_' || s[j] == ':' || s[j] == '*') {
		j++
	}
	if j >= len(s) || s[j] != ']' {
		return 0
	}
	body := s[i+1 : j]
	head, rest, ok := strings.Cut(body, ":")
	if !ok {
		return 0
	}
	if head == "REDACTED" {
		name, tail, _ := strings.Cut(rest, ":")
		if typeIndex(Type(name)) < 0 {
			return 0
		}
		if tail != "" && (name != string(TypeCreditCard) || len(tail) != 8 || tail[:4] != "****" ||
			!isDigit(tail[4]) || !isDigit(tail[5]) || !isDigit(tail[6]) || !isDigit(tail[7])) {
			return 0 // only the exact partial form; anything longer may hide a value
		}
		return j + 1 - i
	}
	if typeIndex(Type(head)) < 0 || len(rest) != 8 {
		return 0
	}
	for k := 0; k < len(rest); k++ {
		if !isHex(rest[k]) || isUpper(rest[k]) {
			return 0
		}
	}
	return j + 1 - i
}

// ---- email ----

func isLocalByte(c byte) bool {
	return isAlnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'
}

// email validates local@domain.tld around the '@' at i. "git@host" (the SSH convention) is not a person; a local
// part preceded by "scheme://user:" is a URL password, handled by urlPassword.
func (sc *scanner) email(at int) {
	s := sc.s
	start := at
	for start > 0 && at-start < 64 && isLocalByte(s[start-1]) {
		start--
	}
	for start < at && (s[start] == '.' || s[start] == '-' || s[start] == '+') {
		start++
	}
	if start == at || s[at-1] == '.' || (start > 0 && isWordByte(s[start-1])) {
		return
	}
	if start > 0 && s[start-1] == '@' {
		return // a@b@c: not an address (and an unescaped '@' inside a URL password)
	}
	if at-start == 3 && s[start:at] == "git" {
		return
	}
	if start > 0 && s[start-1] == ':' {
		for k := start - 2; k > 0 && start-k < 256; k-- {
			c := s[k]
			if c == '/' && s[k-1] == '/' {
				return
			}
			if c == ' ' || c == '\n' || c == '\t' || c == '"' || c == '\'' {
				break
			}
		}
	}
	// domain: labels of [A-Za-z0-9-], at least two, TLD of 2+ letters.
	j := at + 1
	labels := 0
	lastLabelStart := j
	for {
		ls := j
		for j < len(s) && (isAlnum(s[j]) || s[j] == '-') && j-ls < 63 {
			j++
		}
		if j == ls || s[ls] == '-' || s[j-1] == '-' {
			if labels > 0 {
				j = ls - 1 // drop the trailing dot
			}
			break
		}
		labels++
		lastLabelStart = ls
		if j+1 < len(s) && s[j] == '.' && isAlnum(s[j+1]) {
			j++
			continue
		}
		break
	}
	if labels < 2 {
		if labels == 1 && sc.on(iUPIVPA) {
			sc.upi(start, at, j)
		}
		return
	}
	// the TLD must be letters only, 2+ long
	tldEnd := j
	if tldEnd <= lastLabelStart || tldEnd-lastLabelStart < 2 {
		return
	}
	for k := lastLabelStart; k < tldEnd; k++ {
		if !isAlpha(s[k]) {
			return
		}
	}
	if j < len(s) && (isWordByte(s[j]) || s[j] == '-') {
		return
	}
	if sc.on(iEmail) {
		sc.add(TypeEmail, start, j)
	}
}

// ---- URL password ----

// urlPassword masks the password of scheme://user:password@host (the ':' of "://" is at i).
func (sc *scanner) urlPassword(i int) {
	s := sc.s
	if i == 0 || !isAlpha(s[i-1]) {
		return
	}
	a := i + 3
	end := a
	at := -1
	colon := -1
	for end < len(s) && end-a < 512 {
		c := s[end]
		if c == '/' || c == '?' || c == '#' || c <= ' ' || c == '"' || c == '\'' || c == '<' || c == '>' || c == '\\' {
			break
		}
		if c == '@' {
			at = end
		}
		if c == ':' && colon < 0 {
			colon = end
		}
		end++
	}
	if at < 0 || colon < 0 || colon > at || colon+1 >= at {
		return
	}
	if maskTokenLen(s, colon+1) == at-colon-1 {
		return
	}
	sc.add(TypeURLPassword, colon+1, at)
}

// ---- secret assignments ----

// assignment masks the value of a key=value, key: value or "key": "value" assignment (separator at i) whose key
// names a credential. The key is the identifier before the separator; classifyKey decides what its value is:
// password=, secret:, token=, api_key= ... (any literal value, secret_assignment), …_KEY / …_CREDENTIALS (high-entropy
// values only, credential_assignment), Authorization (auth_header), AWS secret access keys, Azure account keys and
// SAS signatures, GCP private_key_id. DB_PASSWORD, client_secret and --token match; max_tokens and tokenizer do not.
func (sc *scanner) assignment(i int) {
	s := sc.s
	if i < sc.assignEnd {
		return // inside a value already masked
	}
	k := i
	for k > 0 && s[k-1] == ' ' {
		k--
	}
	if k > 0 && (s[k-1] == '"' || s[k-1] == '\'') {
		k--
		if k > 0 && s[k-1] == '\\' {
			k-- // JSON inside a JSON string: \"password\": \"x\"
		}
	}
	if k < 3 {
		return
	}
	// the last three letters of the key names classifyKey knows: most keys stop here
	tri := [3]byte{lower(s[k-3]), lower(s[k-2]), lower(s[k-1])}
	switch string(tri[:]) {
	case "ord", "swd", "ret", "ken", "ase", "key", "ion", "ass", "sig", "ial", "als", "eds", "eys", "_id", "-id", "yid":
	default:
		return
	}
	idEnd := k
	for k > 0 && idEnd-k < 64 && (isAlnum(s[k-1]) || s[k-1] == '_' || s[k-1] == '-' || s[k-1] == '.') {
		k--
	}
	cls := classifyKey(s[k:idEnd], string(tri[:]))
	if cls == keyNone {
		return
	}
	if cls > keyAuth && k > 0 && (s[k-1] == '/' || s[k-1] == '+' || s[k-1] == '=') {
		return // the tail of a base64 run (go.sum, SRI hashes), not a key name
	}
	if cls == keySAS && (k == 0 || (s[k-1] != '&' && s[k-1] != '?')) {
		return // sig= only as a query parameter
	}
	// "==", "!=", "<=", ">=" are comparisons, ":=" / "=>" code.
	if i+1 < len(s) && (s[i+1] == '=' || s[i+1] == '>') {
		return
	}
	if p := idEnd; p < i && s[p] != ' ' && s[p] != '"' && s[p] != '\'' && s[p] != '\\' {
		return
	}
	v := i + 1
	for v < len(s) && (s[v] == ' ' || s[v] == '\t') {
		v++
	}
	if v >= len(s) {
		return
	}
	if cls == keyPass {
		id := s[k:idEnd]
		ws := keyWordStart(id)
		if s[i] == ':' && idEnd == i && i+1 < len(s) && s[i+1] == ' ' && (ws == 0 || id[ws-1] == '-') {
			return // "pass: …", "first-pass: …" are prose; openssl's pass:x and a quoted "pass": key are not
		}
		pe := ws
		for pe > 0 && (id[pe-1] == '_' || id[pe-1] == '-' || id[pe-1] == '.') {
			pe--
		}
		prev := id[keyWordStart(id[:pe]):pe]
		for _, w := range nonSecretPassWords {
			if strings.EqualFold(prev, w) {
				return // FIRST_PASS, EnableTwoPass, require_ci_to_pass: a pass of an algorithm or a CI gate
			}
		}
	}
	if s[i] == '=' && idEnd == i && k > 0 && v == i+1 && v < len(s) && s[v] == s[k-1] &&
		(s[v] == '"' || s[v] == '\'' || s[v] == '`') {
		return // "KEY=" + value: a string literal ending in '=', the value is code after its closing quote
	}
	// kind: 0 unquoted, 1 quoted, 2 opened by an escaped quote (JSON inside a JSON string).
	kind, q := 0, byte(0)
	if s[v] == '\\' && v+1 < len(s) && (s[v+1] == '"' || s[v+1] == '\'') {
		kind, q = 2, s[v+1]
		v += 2
	} else if s[v] == '"' || s[v] == '\'' || s[v] == '`' {
		kind, q = 1, s[v]
		v++
	}
	if cls == keyAuth {
		if sc.on(iAuthHeader) {
			sc.authValue(v, kind != 0)
		}
		return
	}
	end := valueEnd(s, v, maxValueScan, kind, q)
	val := s[v:end]
	if val == "" || maskTokenLen(s, v) == len(val) {
		return
	}
	if q == '`' && (end >= len(s) || s[end] != '`' || strings.ContainsAny(val, " \t")) {
		return // a backtick that closes Markdown code (`SECRET=` …), not a JS template literal
	}
	if cls >= keyAWSSecret {
		sc.credentialValue(cls, v, end, kind, q)
		return
	}
	if !sc.on(iSecretAssignment) || codeValue(val, kind, true) {
		return
	}
	switch strings.ToLower(val) {
	case "string", "str", "int", "number", "bool", "boolean", "null", "nil", "none", "true", "false", "undefined",
		"any", "bytes", "[]byte", "optional", "required", "secretstr", "yes", "no", "on", "off", "enabled", "disabled":
		return
	}
	if len(val) > 2 && val[0] == '0' && (val[1] == 'x' || val[1] == 'X') && strings.Trim(val[2:], "0123456789abcdefABCDEF") == "" {
		return // SMART_LCYL_PASS = 0x4f: a numeric constant
	}
	if id := s[k:idEnd]; strings.EqualFold(val, id) || strings.EqualFold(val, id[keyWordStart(id):]) {
		return // Password: password, Passphrase = passphrase: a variable of the same name
	}
	if kind == 0 && dottedIdent(val) && (camel(val) || (s[i] == '=' && (s[i-1] == ' ' || v > i+1))) {
		return // x.Passphrase = cliOptions.sshPassphrase, password = cfg.db.pass: code, not a literal
	}
	if cls == keyToken || cls == keyPass {
		allDigits := true
		for k := 0; k < len(val); k++ {
			if !isDigit(val[k]) {
				allDigits = false
				break
			}
		}
		if allDigits && len(val) < 8 {
			return // max_token=4096 is a count, not a secret; so is {"pass": 12, "fail": 0}
		}
	}
	if end-v >= maxValueScan {
		end = valueEnd(s, end, len(s), kind, q) // accepted: mask through the true end
	}
	sc.add(TypeSecretAssignment, v, end)
	sc.assignEnd = end
}

// nonSecretPassWords are the words that, before "pass", name a pass of an algorithm or a CI gate, not a password.
var nonSecretPassWords = [...]string{"first", "second", "third", "last", "final", "one", "two", "three", "single",
	"multi", "double", "next", "to", "can", "must", "should", "will", "did", "check", "lint", "render", "compile",
	"build", "ci", "filter", "render", "layout", "shadow", "light", "depth", "geometry", "opaque", "transparent"}

// maxValueScan bounds how far an assignment value is read before it is accepted, keeping repeated keys linear.
const maxValueScan = 1024

// valueEnd returns the end of an assignment value starting at v, reading at most limit bytes. kind 0 is unquoted
// (ends at whitespace, a quote or ,;&})>\), 1 quoted by q (backslash escapes honoured), 2 opened by an escaped
// quote (ends at the next backslash or q). Newlines always end a value.
func valueEnd(s string, v, limit, kind int, q byte) int {
	end := v
	switch kind {
	case 2:
		for end < len(s) && end-v < limit && s[end] != '\\' && s[end] != q && s[end] != '\n' {
			end++
		}
	case 1:
		for end < len(s) && end-v < limit && s[end] != q && s[end] != '\n' {
			if s[end] == '\\' && end+1 < len(s) {
				end++
			}
			end++
		}
	default:
		for end < len(s) && end-v < limit {
			c := s[end]
			if c <= ' ' || c == '"' || c == '\'' || c == ',' || c == ';' || c == '&' || c == '}' || c == ')' || c == '>' || c == '\\' {
				break
			}
			end++
		}
	}
	return min(end, len(s))
}

// ---- prefixed secrets ----

// tokenEnd returns the end of a run of token bytes starting at i.
func tokenEnd(s string, i int) int {
	for i < len(s) && isTokenByte(s[i]) {
		i++
	}
	return i
}

// maxSecretScan bounds how far a prefixed secret is read before it is accepted, so that text made of repeated
// prefixes costs O(n·maxSecretScan) at worst instead of O(n²).
const maxSecretScan = 128

// tokenEndMax is tokenEnd reading at most max bytes.
func tokenEndMax(s string, i, max int) int {
	lim := min(len(s), i+max)
	for i < lim && isTokenByte(s[i]) {
		i++
	}
	return i
}

// addSecret records an accepted prefixed secret through the true end of its token and skips triggers inside it.
func (sc *scanner) addSecret(t Type, start, end int) {
	end = tokenEnd(sc.s, end)
	sc.add(t, start, end)
	sc.secretEnd = end
}

// mixed reports whether v has a digit, an upper- and a lower-case letter: real keys do, branch names rarely.
func mixed(v string) bool {
	var d, u, l bool
	for i := 0; i < len(v); i++ {
		c := v[i]
		d = d || isDigit(c)
		u = u || isUpper(c)
		l = l || isLower(c)
	}
	return d && u && l
}

// dash handles triggers on '-': sk-ant- / sk- keys, xox?- Slack tokens and -----BEGIN blocks.
func (sc *scanner) dash(i int) {
	s := sc.s
	if i < sc.secretEnd {
		return
	}
	if i >= 2 && s[i-2] == 's' && s[i-1] == 'k' && boundaryBefore(s, i-2) {
		start := i - 2
		end := tokenEndMax(s, i+1, maxSecretScan)
		body := s[i+1 : end]
		if strings.HasPrefix(body, "ant-") {
			if sc.on(iAnthropicKey) && len(body) >= 24 && mixed(body[4:]) {
				sc.addSecret(TypeAnthropicKey, start, end)
			}
			return
		}
		if sc.on(iOpenAIKey) && len(body) >= 20 && mixed(body) {
			sc.addSecret(TypeOpenAIKey, start, end)
		}
		return
	}
	if i >= 4 && s[i-4] == 'x' && s[i-3] == 'o' && s[i-2] == 'x' && sc.on(iSlackToken) && boundaryBefore(s, i-4) {
		switch s[i-1] {
		case 'a', 'b', 'p', 'o', 's', 'r', 'e':
			end := tokenEndMax(s, i+1, maxSecretScan)
			digits := 0
			for k := i + 1; k < end; k++ {
				if isDigit(s[k]) {
					digits++
				}
			}
			if end-i-1 >= 10 && digits >= 4 {
				sc.addSecret(TypeSlackToken, i-4, end)
			}
		}
		return
	}
	if strings.HasPrefix(s[i:], "-----BEGIN ") && (i == 0 || s[i-1] != '-') && sc.on(iPrivateKey) {
		sc.pem(i)
		return
	}
	if sc.on(iPaymentKey) && i > 0 {
		sc.paymentDash(i)
	}
}

// pem masks a private-key block from -----BEGIN ... PRIVATE KEY----- to its END line, or to the end of the value
// when the END line is missing (a cut or mangled key is still a key).
func (sc *scanner) pem(i int) {
	s := sc.s
	ls := i + len("-----BEGIN ")
	le := strings.Index(s[ls:min(len(s), ls+64)], "-----")
	if le < 0 {
		return
	}
	label := s[ls : ls+le]
	if !strings.Contains(label, "PRIVATE KEY") {
		return
	}
	bodyStart := ls + le + 5
	endMarker := "-----END " + label + "-----"
	if k := strings.Index(s[bodyStart:], endMarker); k >= 0 {
		sc.add(TypePrivateKey, i, bodyStart+k+len(endMarker))
		return
	}
	sc.add(TypePrivateKey, i, len(s))
	sc.done = true // everything after is masked; also keeps many unterminated BEGIN lines linear
}

// github handles ghp_/gho_/ghs_/ghu_/ghr_ tokens and github_pat_ fine-grained tokens ('_' at i).
func (sc *scanner) github(i int) {
	s := sc.s
	if i >= 3 && s[i-3] == 'g' && s[i-2] == 'h' && boundaryBefore(s, i-3) {
		switch s[i-1] {
		case 'p', 'o', 's', 'u', 'r':
			end := i + 1
			for end < len(s) && isAlnum(s[end]) {
				end++
			}
			if end-i-1 >= 30 && boundaryAfter(s, end) {
				sc.add(TypeGitHubToken, i-3, end)
			}
		}
		return
	}
	if i >= 10 && s[i-10:i] == "github_pat" && boundaryBefore(s, i-10) {
		end := i + 1
		for end < len(s) && (isAlnum(s[end]) || s[end] == '_') {
			end++
		}
		if end-i-1 >= 22 {
			sc.add(TypeGitHubToken, i-10, end)
		}
	}
}

// upperA handles AWS access key ids (AKIA/ASIA + 16) and Google API keys (AIza + 35).
func (sc *scanner) upperA(i int) {
	s := sc.s
	if i+4 > len(s) || !boundaryBefore(s, i) {
		return
	}
	switch s[i+1 : i+4] {
	case "uth":
		if sc.on(iAuthHeader) {
			sc.authCall(i)
		}
	case "KIA", "SIA":
		if !sc.on(iAWSAccessKey) || i+20 > len(s) {
			return
		}
		for k := i + 4; k < i+20; k++ {
			if !isUpper(s[k]) && !isDigit(s[k]) {
				return
			}
		}
		if boundaryAfter(s, i+20) {
			sc.add(TypeAWSAccessKey, i, i+20)
		}
	case "Iza":
		if !sc.on(iGoogleAPIKey) || i+39 > len(s) {
			return
		}
		for k := i + 4; k < i+39; k++ {
			if !isTokenByte(s[k]) {
				return
			}
		}
		if i+39 == len(s) || !isTokenByte(s[i+39]) {
			sc.add(TypeGoogleAPIKey, i, i+39)
		}
	}
}

// jwt validates header.payload.signature where header and payload are base64url JSON objects ("eyJ").
func (sc *scanner) jwt(i int) {
	s := sc.s
	if i < sc.secretEnd || !boundaryBefore(s, i) {
		return
	}
	h := tokenEndMax(s, i, 4*maxSecretScan)
	if h-i < 10 || h+4 > len(s) || s[h] != '.' || !strings.HasPrefix(s[h+1:], "eyJ") {
		return
	}
	p := tokenEnd(s, h+1)
	if p-h-1 < 4 || p >= len(s) || s[p] != '.' {
		return
	}
	end := tokenEnd(s, p+1)
	sc.add(TypeJWT, i, end)
	sc.secretEnd = end
}

// ---- IP addresses ----

// ipv4At parses a dotted quad starting at i (a digit-run start); it returns the end and the octets.
func ipv4At(s string, i int) (int, [4]byte, bool) {
	var oct [4]byte
	j := i
	for n := 0; n < 4; n++ {
		if n > 0 {
			if j >= len(s) || s[j] != '.' {
				return 0, oct, false
			}
			j++
		}
		k := j
		v := 0
		for k < len(s) && isDigit(s[k]) && k-j < 4 {
			v = v*10 + int(s[k]-'0')
			k++
		}
		if k == j || k-j > 3 || v > 255 || (k-j > 1 && s[j] == '0') {
			return 0, oct, false
		}
		oct[n] = byte(v)
		j = k
	}
	return j, oct, true
}

func privateV4(o [4]byte) bool {
	return o[0] == 10 || o[0] == 127 || o[0] == 0 ||
		(o[0] == 172 && o[1]&0xf0 == 16) || (o[0] == 192 && o[1] == 168) || (o[0] == 169 && o[1] == 254)
}

// ipv4 validates a dotted quad at i. Four-part versions with a leading "v" and longer dotted runs are rejected.
func (sc *scanner) ipv4(i int) {
	s := sc.s
	if i > 0 && (isWordByte(s[i-1]) || s[i-1] == '.') {
		return
	}
	end, oct, ok := ipv4At(s, i)
	if !ok || (end < len(s) && (isWordByte(s[end]) || (s[end] == '.' && end+1 < len(s) && isDigit(s[end+1])))) {
		return
	}
	if oct == [4]byte{} || (sc.e.keepPrivate && privateV4(oct)) || afterWord(s, i, "section ") || afterWord(s, i, "version ") {
		return
	}
	sc.add(TypeIPAddress, i, end)
}

// ipv6 validates an IPv6 address around the ':' at i and returns its end (or i when none). It needs either eight
// groups or one "::", at least two colons and a digit, so C++/Rust paths (std::vector) and clock times are not
// addresses.
func (sc *scanner) ipv6(i int) int {
	s := sc.s
	if !((i > 0 && isHex(s[i-1])) || (i+1 < len(s) && s[i+1] == ':')) {
		return i
	}
	start := i
	for start > 0 && i-start < 40 && (isHex(s[start-1]) || s[start-1] == ':') {
		start--
	}
	if start > 0 && (isWordByte(s[start-1]) || s[start-1] == '.') {
		return i
	}
	if start < i && s[start] == ':' && (start+1 >= len(s) || s[start+1] != ':') {
		start++
	}
	end := i
	for end < len(s) && end-start < 46 && (isHex(s[end]) || s[end] == ':') {
		end++
	}
	// an embedded IPv4 tail (::ffff:1.2.3.4)
	v4tail := false
	if end < len(s) && s[end] == '.' {
		k := end
		for k > start && s[k-1] != ':' {
			k--
		}
		if e4, _, ok := ipv4At(s, k); ok {
			end = e4
			v4tail = true
		} else {
			return i
		}
	}
	if end < len(s) && (isWordByte(s[end]) || s[end] == '.') {
		return i
	}
	if end-start > 2 && s[end-1] == ':' && s[end-2] != ':' {
		end-- // a trailing single colon is punctuation
	}
	addr := s[start:end]
	groups, colons, double, digit := 0, 0, 0, false
	gl, maxGl := 0, 0
	for k := 0; k < len(addr); k++ {
		c := addr[k]
		if c == ':' {
			colons++
			if k > 0 && addr[k-1] == ':' {
				double++
			}
			if gl > 0 {
				groups++
			}
			gl = 0
			continue
		}
		if v4tail && c == '.' {
			break
		}
		if isDigit(c) {
			digit = true
		}
		gl++
		if gl > 4 {
			return i
		}
		maxGl = max(maxGl, gl)
	}
	if gl > 0 {
		groups++
	}
	if v4tail {
		groups++ // the v4 tail counts as two groups; the last counted one is one of them
	}
	if double > 1 || colons < 2 || !digit || (double == 0 && groups != 8) || (double == 1 && groups > 7) {
		return i
	}
	if strings.Contains(addr, ":::") {
		return i
	}
	if double == 1 && groups < 3 && !strings.HasPrefix(addr, "::") && maxGl < 4 {
		return i // Python slices such as x[1::2] and x[10::3], not fe80::1
	}
	if strings.HasPrefix(addr, "::") && groups < 2 && addr != "::1" {
		return i // x[::2] is a slice; of the one-group "::" forms only loopback is used
	}
	if addr == "::" || (sc.e.keepPrivate && privateV6(addr)) {
		return end
	}
	sc.add(TypeIPAddress, start, end)
	return end
}

// privateV6 reports ::, ::1, fc00::/7 (unique local) and fe80::/10 (link-local).
func privateV6(a string) bool {
	if a == "::" || a == "::1" {
		return true
	}
	if len(a) < 4 || a[2] == ':' || a[3] == ':' {
		return false
	}
	p := strings.ToLower(a[:2])
	return p == "fc" || p == "fd" || (p == "fe" && (lower(a[2]) >= '8' && lower(a[2]) <= 'b'))
}

// afterWord reports whether s[:i] ends with w (ASCII case-insensitive): "section 3.1.1.5" and "version 1.2.3.4"
// are numbered sections and versions, not addresses.
func afterWord(s string, i int, w string) bool {
	return i >= len(w) && strings.EqualFold(s[i-len(w):i], w)
}
