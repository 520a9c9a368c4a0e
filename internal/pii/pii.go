// Package pii detects and masks personal data and secrets in free text (prompts, shell commands, JSON tool input,
// model responses) so that content is never stored in the clear.
//
// Detection is a single pass over the bytes of a value: only a few trigger bytes ('@', digits, ':', '=', '-', '_',
// 'A', 'B', 'J', '[') dispatch to hand-written validators, so text without candidates costs little more than a memory
// scan, and every candidate is validated (checksums, ranges, structure) to keep code-like text untouched.
package pii

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Type names a kind of sensitive value; the string appears in mask tokens and in Result.Types.
type Type string

// Detected types.
const (
	TypeEmail            Type = "email"
	TypePhone            Type = "phone"
	TypeSSN              Type = "ssn"
	TypeCreditCard       Type = "credit_card"
	TypeIBAN             Type = "iban"
	TypeAadhaar          Type = "aadhaar"
	TypePAN              Type = "pan"
	TypeNIK              Type = "nik"
	TypeIPAddress        Type = "ip_address"
	TypeAWSAccessKey     Type = "aws_access_key"
	TypeGitHubToken      Type = "github_token"
	TypeSlackToken       Type = "slack_token"
	TypeGoogleAPIKey     Type = "google_api_key"
	TypeAnthropicKey     Type = "anthropic_key"
	TypeOpenAIKey        Type = "openai_key"
	TypeJWT              Type = "jwt"
	TypePrivateKey       Type = "private_key"
	TypeURLPassword      Type = "url_password"
	TypeSecretAssignment Type = "secret_assignment"

	TypeAuthHeader           Type = "auth_header"
	TypeAWSSecretKey         Type = "aws_secret_key"
	TypeAzureKey             Type = "azure_key"
	TypeGCPServiceAccount    Type = "gcp_service_account"
	TypePaymentKey           Type = "payment_key"
	TypeCredentialAssignment Type = "credential_assignment"
	TypeUPIVPA               Type = "upi_vpa"
	TypeNPWP                 Type = "npwp"
)

// personal are the types that identify a person or their finances; every other type is a secret (a credential).
var personal = map[Type]bool{
	TypeEmail: true, TypePhone: true, TypeSSN: true, TypeCreditCard: true, TypeIBAN: true, TypeAadhaar: true,
	TypePAN: true, TypeNIK: true, TypeIPAddress: true, TypeUPIVPA: true, TypeNPWP: true,
}

// Secret reports whether t is a credential (a key, token, password or private key) rather than personal data.
func (t Type) Secret() bool { return typeIndex(t) >= 0 && !personal[t] }

// SecretTypes returns the credential types in priority order.
func SecretTypes() []Type {
	var out []Type
	for _, t := range priority {
		if t.Secret() {
			out = append(out, t)
		}
	}
	return out
}

// priority lists every type from most to least specific; it breaks ties between findings with the same span so
// that, e.g., a GitHub token assigned to GITHUB_TOKEN= is reported as github_token, not secret_assignment.
var priority = [...]Type{
	TypePrivateKey, TypeJWT, TypeAWSAccessKey, TypeAWSSecretKey, TypeAzureKey, TypeGCPServiceAccount,
	TypeGitHubToken, TypeSlackToken, TypeGoogleAPIKey, TypeAnthropicKey, TypeOpenAIKey, TypePaymentKey,
	TypeURLPassword, TypeAuthHeader, TypeSecretAssignment, TypeCredentialAssignment,
	TypeCreditCard, TypeIBAN, TypeSSN, TypeAadhaar, TypeNIK, TypeNPWP, TypePAN, TypeIPAddress, TypePhone,
	TypeUPIVPA, TypeEmail,
}

const numTypes = len(priority)

// Indexes into priority (and Engine.enabled), so the hot path never compares type names.
const (
	iPrivateKey = iota
	iJWT
	iAWSAccessKey
	iAWSSecretKey
	iAzureKey
	iGCPServiceAccount
	iGitHubToken
	iSlackToken
	iGoogleAPIKey
	iAnthropicKey
	iOpenAIKey
	iPaymentKey
	iURLPassword
	iAuthHeader
	iSecretAssignment
	iCredentialAssignment
	iCreditCard
	iIBAN
	iSSN
	iAadhaar
	iNIK
	iNPWP
	iPAN
	iIPAddress
	iPhone
	iUPIVPA
	iEmail
)

// typeIndex returns the priority index of t, or -1 for an unknown type.
func typeIndex(t Type) int {
	for i, p := range priority {
		if p == t {
			return i
		}
	}
	return -1
}

// AllTypes returns every supported type in a stable order (the tie-break priority order).
func AllTypes() []Type {
	out := make([]Type, numTypes)
	copy(out, priority[:])
	return out
}

// Finding is one detected sensitive value: its type and byte span [Start, End) in the scanned string.
type Finding struct {
	Type       Type
	Start, End int
}

// Mode selects how a finding is replaced.
type Mode string

// Masking modes.
const (
	// ModeRedact replaces a value with [REDACTED:<type>].
	ModeRedact Mode = "redact"
	// ModeHash replaces a value with [<type>:<8 hex>], an HMAC-SHA256 of the value under Config.HashKey, so that
	// equal values mask equally within a deployment (joinable) without being reversible.
	ModeHash Mode = "hash"
	// ModePartial keeps the last 4 digits of payment cards ([REDACTED:credit_card:****1111]) and redacts the rest.
	ModePartial Mode = "partial"
)

// DefaultMaxValueBytes is the size above which a value is cut and its tail withheld.
const DefaultMaxValueBytes = 64 << 10

// ErrDetectionFailed is wrapped by every error from a recovered panic or an exceeded timeout: the caller must
// withhold the content.
var ErrDetectionFailed = errors.New("pii: detection failed")

// Config configures an Engine.
type Config struct {
	// Types enables detectors; empty enables all.
	Types []Type
	// Mode is the masking mode; empty means ModeRedact.
	Mode Mode
	// HashKey keys the HMAC of ModeHash; required (at least 16 bytes) in that mode.
	HashKey []byte
	// MaxValueBytes bounds the scanned prefix of a value; 0 means DefaultMaxValueBytes.
	MaxValueBytes int
	// KeepPrivateIPs leaves loopback, private, link-local and unspecified addresses unmasked. By default every
	// valid IP address is masked, including 127.0.0.1; the unspecified addresses 0.0.0.0 and :: name no host and
	// are never masked, nor are host names such as localhost or ports.
	KeepPrivateIPs bool
	// Timeout bounds the detection time of one value; 0 means none. Exceeding it returns ErrDetectionFailed.
	Timeout time.Duration
}

// Validate reports a configuration error.
func (c Config) Validate() error {
	for _, t := range c.Types {
		if typeIndex(t) < 0 {
			return fmt.Errorf("pii: unknown type %q", t)
		}
	}
	switch c.Mode {
	case "", ModeRedact, ModePartial:
	case ModeHash:
		if len(c.HashKey) < 16 {
			return errors.New("pii: hash mode needs a hash_key of at least 16 bytes")
		}
	default:
		return fmt.Errorf("pii: unknown mode %q", c.Mode)
	}
	if c.MaxValueBytes < 0 {
		return errors.New("pii: max_value_bytes must not be negative")
	}
	if c.Timeout < 0 {
		return errors.New("pii: timeout must not be negative")
	}
	return nil
}

// Engine detects and masks sensitive values. It is immutable after New and safe for concurrent use.
type Engine struct {
	enabled     [numTypes]bool
	numeric     bool // any detector triggered by a digit is enabled
	assign      bool // any detector triggered by a "key=" / "key:" separator is enabled
	at          bool // any detector triggered by '@' is enabled
	mode        Mode
	key         []byte
	maxBytes    int
	keepPrivate bool
	timeout     time.Duration
	hashers     sync.Pool // of *hasher, so hash mode does not build an HMAC per finding
}

// hasher is a reusable keyed HMAC-SHA256 with its scratch buffer.
type hasher struct {
	h   hash.Hash
	buf []byte
}

// New validates cfg and builds an Engine.
func New(cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Engine{mode: cfg.Mode, keepPrivate: cfg.KeepPrivateIPs, timeout: cfg.Timeout, maxBytes: cfg.MaxValueBytes}
	if e.mode == "" {
		e.mode = ModeRedact
	}
	if e.maxBytes == 0 {
		e.maxBytes = DefaultMaxValueBytes
	}
	e.key = append([]byte(nil), cfg.HashKey...)
	e.hashers.New = func() any { return &hasher{h: hmac.New(sha256.New, e.key)} }
	if len(cfg.Types) == 0 {
		for i := range e.enabled {
			e.enabled[i] = true
		}
	} else {
		for _, t := range cfg.Types {
			e.enabled[typeIndex(t)] = true
		}
	}
	for _, t := range []Type{TypePhone, TypeSSN, TypeCreditCard, TypeIBAN, TypeAadhaar, TypePAN, TypeNIK, TypeNPWP,
		TypeIPAddress} {
		if e.enabled[typeIndex(t)] {
			e.numeric = true
		}
	}
	for _, t := range []Type{TypeSecretAssignment, TypeCredentialAssignment, TypeAuthHeader, TypeAWSSecretKey,
		TypeAzureKey, TypeGCPServiceAccount} {
		if e.enabled[typeIndex(t)] {
			e.assign = true
		}
	}
	e.at = e.enabled[iEmail] || e.enabled[iUPIVPA]
	return e, nil
}

// testHookScan, when set by tests, runs at the start of every scan (used to inject panics).
var testHookScan func()

// Detect returns the resolved (sorted, non-overlapping) findings in s, or nil. Only the first MaxValueBytes of s
// (cut as in Mask) are scanned. An error wraps ErrDetectionFailed and never contains input.
func (e *Engine) Detect(s string) (out []Finding, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("%w: internal error", ErrDetectionFailed)
		}
	}()
	if len(s) > e.maxBytes {
		s = s[:cutPoint(s, e.maxBytes)]
	}
	return e.detect(s, e.deadline(), nil)
}

// deadline returns the time (on the monotonic clock, see clock) by which one Detect or Mask call must finish (zero
// when there is no timeout).
func (e *Engine) deadline() time.Duration {
	if e.timeout <= 0 {
		return 0
	}
	return clock() + e.timeout
}

// clockBase anchors clock.
var clockBase = time.Now()

// clock is the monotonic time since clockBase. Deadlines are read on it: time.Since reads only the monotonic clock,
// where time.Now reads the wall clock too, and every value scanned reads the clock twice (its deadline, the check
// after the scan).
func clock() time.Duration { return time.Since(clockBase) }

// detect scans s (already cut) and resolves overlaps, honouring the deadline. The findings are appended to
// found[:0].
func (e *Engine) detect(s string, deadline time.Duration, found []Finding) ([]Finding, error) {
	if testHookScan != nil {
		testHookScan()
	}
	sc := scanner{e: e, s: s, deadline: deadline, found: found[:0]}
	sc.run()
	if sc.timedOut || (e.timeout > 0 && clock() > deadline) {
		return nil, fmt.Errorf("%w: timeout after %s", ErrDetectionFailed, e.timeout)
	}
	return resolve(sc.found), nil
}

// resolve orders findings by start, then longest, then type priority, and merges overlaps into the earlier
// finding so that no byte of an overlapping finding is ever left in the clear.
func resolve(f []Finding) []Finding {
	if len(f) < 2 {
		return f
	}
	slices.SortFunc(f, func(a, b Finding) int {
		if a.Start != b.Start {
			return a.Start - b.Start
		}
		if a.End != b.End {
			return b.End - a.End
		}
		return typeIndex(a.Type) - typeIndex(b.Type)
	})
	out := f[:1]
	for _, x := range f[1:] {
		last := &out[len(out)-1]
		if x.Start < last.End {
			if x.End > last.End {
				last.End = x.End
			}
			continue
		}
		out = append(out, x)
	}
	return out
}

// Result is the outcome of Mask.
type Result struct {
	// Text is the masked value (the input itself when nothing was found and nothing was cut).
	Text string
	// Types lists the types found, sorted and unique.
	Types []Type
	// Truncated reports that the value exceeded MaxValueBytes and its tail was withheld.
	Truncated bool
}

// maxRounds bounds the re-scans of masked output: replacing a value can change the boundaries of its neighbours,
// so Mask re-scans until nothing is found, which makes masking idempotent.
const maxRounds = 4

// Mask replaces every finding in s according to the mode. On error (recovered panic or timeout, wrapping
// ErrDetectionFailed) the caller must withhold the content; the error text never contains input.
func (e *Engine) Mask(s string) (Result, error) { return e.MaskWith(s, nil) }

// Scratch is storage MaskWith reuses from call to call: the findings of a scan and the result's types. It is not
// safe for concurrent use; the zero value is ready.
type Scratch struct {
	found []Finding
	types []Type
}

// MaskWith is Mask keeping the findings and the result's Types in sc (when not nil): Types is then valid until sc
// is used again, and a caller that masks many values allocates only the masked texts.
func (e *Engine) MaskWith(s string, sc *Scratch) (res Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			res, err = Result{}, fmt.Errorf("%w: internal error", ErrDetectionFailed)
		}
	}()
	var withheld int
	if len(s) > e.maxBytes {
		cut := cutPoint(s, e.maxBytes)
		withheld = len(s) - cut
		s = s[:cut]
	}
	text := s
	var types []Type
	var found []Finding
	if sc != nil {
		types, found = sc.types[:0], sc.found[:0]
	}
	deadline := e.deadline()
	for round := 0; round < maxRounds; round++ {
		f, err := e.detect(text, deadline, found)
		if err != nil {
			return Result{}, err
		}
		found = f[:0] // the next round's storage: f is used up below
		if len(f) == 0 {
			break
		}
		text = e.apply(text, f)
		for _, x := range f {
			if !slices.Contains(types, x.Type) {
				types = append(types, x.Type)
			}
		}
	}
	if sc != nil {
		sc.types, sc.found = types, found
	}
	if withheld > 0 {
		text += "…[truncated: " + strconv.Itoa(withheld) + " bytes withheld]"
	}
	slices.Sort(types)
	return Result{Text: text, Types: types, Truncated: withheld > 0}, nil
}

// apply builds the masked text from resolved findings.
func (e *Engine) apply(s string, f []Finding) string {
	var b strings.Builder
	b.Grow(len(s) + len(f)*24)
	prev := 0
	for _, x := range f {
		b.WriteString(s[prev:x.Start])
		e.writeToken(&b, x.Type, s[x.Start:x.End])
		prev = x.End
	}
	b.WriteString(s[prev:])
	return b.String()
}

// writeToken writes the replacement of value v of type t.
func (e *Engine) writeToken(b *strings.Builder, t Type, v string) {
	switch {
	case e.mode == ModeHash:
		hs := e.hashers.Get().(*hasher)
		hs.h.Reset()
		hs.buf = append(append(append(hs.buf[:0], t...), 0), v...)
		hs.h.Write(hs.buf)
		hs.buf = hs.h.Sum(hs.buf[:0])
		var hx [8]byte
		hex.Encode(hx[:], hs.buf[:4])
		e.hashers.Put(hs)
		b.WriteByte('[')
		b.WriteString(string(t))
		b.WriteByte(':')
		b.Write(hx[:])
		b.WriteByte(']')
	case e.mode == ModePartial && t == TypeCreditCard:
		var last [4]byte
		n := 0
		for i := len(v) - 1; i >= 0 && n < 4; i-- {
			if isDigit(v[i]) {
				n++
				last[4-n] = v[i]
			}
		}
		b.WriteString("[REDACTED:credit_card:****")
		b.Write(last[4-n:])
		b.WriteByte(']')
	default:
		b.WriteString("[REDACTED:")
		b.WriteString(string(t))
		b.WriteByte(']')
	}
}

// cutPoint returns where to cut a value longer than max: on a UTF-8 boundary, backed off to the previous token
// boundary (whitespace or JSON/shell punctuation) so that half a secret straddling the cut is withheld rather than
// passed through undetected. It returns 0 when the prefix holds no boundary at all.
func cutPoint(s string, max int) int {
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	for i := cut - 1; i >= 0; i-- {
		switch s[i] {
		case ' ', '\t', '\n', '\r', '"', '\'', ',', ';', '(', ')', '{', '}', '<', '>', '\\':
			return i + 1
		}
	}
	return 0
}
