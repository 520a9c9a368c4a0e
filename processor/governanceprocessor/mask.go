package governanceprocessor // import "github.com/govcol/govcol/processor/governanceprocessor"

import (
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/pii"
)

// withheldMarker replaces a value on which PII detection failed: content is never stored in the clear.
const withheldMarker = "[redaction-unavailable: content withheld]"

// contentKeys carry prompts, commands, tool input and responses: always masked, never allow-listed.
var contentKeys = map[string]bool{
	"prompt": true, "prompt_text": true, "response": true, "tool_input": true, "tool_parameters": true,
	"user_prompt": true, "full_command": true, "error": true, "query": true, "input": true, "output": true,
	"command": true, "body": true, "message": true, "content": true,
}

// builtinSafeKeys are attributes whose string values are identifiers, enumerations, counts or model names in the
// telemetry of Claude Code, Cowork and Claude Desktop (see the fixtures); they are not scanned. Every other string
// value is.
var builtinSafeKeys = []string{
	// identifiers and sequencing
	"user.id", "session.id", "prompt.id", "message.uuid", "tool_use_id", "request_id", "event.name", "event.timestamp",
	"event.sequence", "plugin_id_hash", "gen_ai.conversation.id", "gen_ai.response.id", "gen_ai.tool.call.id",
	"interaction.sequence",
	// enumerations and names
	"anthropic.provider", "terminal.type", "decision", "source", "tool_name", "tool_name_safe", "tool_source",
	"permission_mode", "model", "speed", "query_source", "query_source_safe", "effort", "success", "span.type",
	"gen_ai.provider.name", "gen_ai.system", "gen_ai.request.model", "gen_ai.operation.name", "gen_ai.tool.name",
	"llm_request.context", "stop_reason", "bash_command_class", "parent.source", "start_type", "type",
	"managed_settings.trigger", "managed_settings.source_behavior", "managed_settings.helper.state",
	"managed_settings.helper.applied", "plugin.name", "marketplace.name", "plugin.scope", "enabled_via", "safe_mode",
	// numbers sent as strings
	"prompt_length", "duration_ms", "tool_input_size_bytes", "tool_result_size_bytes", "response_length",
	"status_code", "attempt",
	// resource
	"service.name", "service.version", "service.namespace", "os.type", "os.version", "host.arch",
	"telemetry.sdk.name", "telemetry.sdk.language", "telemetry.sdk.version",
}

// maskState accumulates what masking found on one record (or span, or data point).
type maskState struct {
	types    []pii.Type // union, sorted
	fields   []string   // attribute keys whose value was masked or withheld
	withheld int        // values withheld because detection failed
	// perType counts masked values by type, for the processor's own telemetry (summed per batch).
	perType map[pii.Type]int64
	// pii is the engine's storage for findings and result types (MaskWith), reused from value to value.
	pii pii.Scratch
	// clean are the allow-listed identifier values the engine found nothing in during this batch (cleanIdentifier);
	// emptied when the batch ends (the strings are the batch's).
	clean map[string]struct{}
}

func (s *maskState) reset() {
	s.types = s.types[:0]
	s.fields = s.fields[:0]
	s.withheld = 0
}

// maskMark is a point in a maskState: what the resource contributed before a record's own findings.
type maskMark struct {
	types    []pii.Type // a copy: types is a sorted set, so a record's types can be inserted before the resource's
	fields   int
	withheld int
}

func (s *maskState) mark() maskMark {
	m := maskMark{fields: len(s.fields), withheld: s.withheld}
	if len(s.types) > 0 {
		m.types = slices.Clone(s.types)
	}
	return m
}

// rewind drops the findings added since m (a record's own) and keeps the resource's, which belong to every record
// of the resource.
func (s *maskState) rewind(m maskMark) {
	s.types = append(s.types[:0], m.types...)
	s.fields, s.withheld = s.fields[:m.fields], m.withheld
}

// masker applies the PII engine to pdata values.
type masker struct {
	engine *pii.Engine
	// keys are the allow-listed keys (builtinSafeKeys and safe_attributes) and the id keys among them (idKeys): one
	// map lookup per attribute.
	keys map[string]keyKind
}

// keyKind is what masking knows of an attribute key.
type keyKind uint8

const (
	keySafe keyKind = 1 << iota // allow-listed
	keyID                       // an id key (idKeys)
)

func newMasker(engine *pii.Engine, extraSafe []string) *masker {
	keys := make(map[string]keyKind, len(builtinSafeKeys)+len(extraSafe))
	for _, k := range builtinSafeKeys {
		keys[k] = keySafe
	}
	for _, k := range extraSafe {
		if !contentKeys[k] {
			keys[k] = keySafe
		}
	}
	for k := range idKeys {
		keys[k] |= keySafe | keyID // every id key is a built-in safe key
	}
	return &masker{engine: engine, keys: keys}
}

// maskMap masks m in place (recursively into maps and slices): keys that carry PII are renamed to their masked
// form, and every value is masked except that of an allow-listed key holding an identifier (see safeValue).
func (mk *masker) maskMap(m pcommon.Map, st *maskState) {
	mk.maskKeys(m, "", st)
	for k, v := range m.All() {
		kind := mk.keys[k]
		if kind&keySafe != 0 && mk.safeValue(v, st) {
			continue
		}
		mk.maskValue(k, v, st)
		if kind&keyID != 0 && !(v.Type() == pcommon.ValueTypeStr && audit.IsIdentifier(v.Str())) {
			// An id that does not have an id's shape is withheld whole (after masking recorded what it held).
			v.SetStr(notIdentifierMarker)
			st.addField(k)
		}
	}
}

// notIdentifierMarker replaces the value of an id key (idKeys) that is not an identifier.
const notIdentifierMarker = "[withheld: not an identifier]"

// idKeys are the allow-listed keys that hold ids in Claude Code's and the GenAI conventions' telemetry. Their
// values have a documented shape (UUIDs, hex digests, prefixed ids, integers); a value of any other shape is not
// kept even masked: it is withheld (the id columns are then NULL and counted, see identAttr).
var idKeys = map[string]bool{
	"user.id": true, "session.id": true, "prompt.id": true, "message.uuid": true, "tool_use_id": true,
	"request_id": true, "event.sequence": true, "plugin_id_hash": true, "gen_ai.conversation.id": true,
	"gen_ai.response.id": true, "gen_ai.tool.call.id": true, "interaction.sequence": true,
}

// safeValue reports whether the value of an allow-listed key may pass unscanned: a number, a bool, or a string of
// identifier shape (audit.IsIdentifier) in which the engine finds nothing. Maps, slices, bytes and free text under
// an allow-listed key are content like any other and are masked.
func (mk *masker) safeValue(v pcommon.Value, st *maskState) bool {
	switch v.Type() {
	case pcommon.ValueTypeInt, pcommon.ValueTypeDouble, pcommon.ValueTypeBool, pcommon.ValueTypeEmpty:
		return true
	case pcommon.ValueTypeStr:
		return mk.cleanIdentifier(v.Str(), st)
	}
	return false
}

// maxCleanIdentifiers bounds maskState.clean.
const maxCleanIdentifiers = 1024

// cleanIdentifier is isIdentifier remembering, for the rest of the batch, the values found clean: allow-listed
// identifiers repeat across a batch's records (session and user ids, model, event, tool and terminal names), and
// the engine's scan of one is a few bytes of work beside its deadline's two clock reads. The engine is
// deterministic, so a value it found nothing in once it finds nothing in again; only a value on which detection
// failed (a timeout) is scanned again, and it is never remembered.
func (mk *masker) cleanIdentifier(s string, st *maskState) bool {
	if _, ok := st.clean[s]; ok {
		return true
	}
	if !mk.isIdentifier(s) {
		return false
	}
	if st.clean == nil {
		st.clean = make(map[string]struct{}, 64)
	}
	if len(st.clean) < maxCleanIdentifiers {
		st.clean[s] = struct{}{}
	}
	return true
}

// isIdentifier reports whether s is an identifier in which the engine finds nothing (an engine failure is not).
func (mk *masker) isIdentifier(s string) bool {
	if !audit.IsIdentifier(s) {
		return false
	}
	f, err := mk.engine.Detect(s)
	return err == nil && len(f) == 0
}

// maskKeys renames the keys of m that carry PII to their masked form (an attribute key is client-controlled text
// too: it lands in metadata and redacted_fields), recording path+key in redacted_fields. Only keys that are not
// plainKey are scanned.
func (mk *masker) maskKeys(m pcommon.Map, path string, st *maskState) {
	var suspect []string
	for k := range m.All() {
		if !plainKey(k) {
			suspect = append(suspect, k)
		}
	}
	for _, k := range suspect {
		res, err := mk.engine.MaskWith(k, &st.pii)
		masked := res.Text
		switch {
		case err != nil:
			masked = withheldMarker
			st.withheld++
		case len(res.Types) == 0 && !res.Truncated:
			continue
		}
		st.addTypes(res.Types)
		v, _ := m.Get(k)
		nv := pcommon.NewValueEmpty()
		v.MoveTo(nv)
		m.Remove(k)
		for i := 2; ; i++ { // two keys may mask alike: keep both values
			if _, taken := m.Get(masked); !taken {
				break
			}
			masked = strings.TrimSuffix(masked, "#"+strconv.Itoa(i-1)) + "#" + strconv.Itoa(i)
		}
		nv.MoveTo(m.PutEmpty(masked))
		st.addField(path + masked)
	}
}

// plainKey reports whether k is made of the characters attribute keys are made of (letters, digits, . _ - /) with
// fewer than 5 digits, and at most 128 bytes: such a key cannot hold an email, a number-shaped identifier (SSN,
// phone, card) or a secret with its delimiters, so it is not scanned.
func plainKey(k string) bool {
	if len(k) > 128 {
		return false
	}
	digits := 0
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c >= '0' && c <= '9':
			if digits++; digits >= 5 {
				return false
			}
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '.', c == '_', c == '-', c == '/':
		default:
			return false
		}
	}
	return true
}

// maskValue masks v in place; field names the attribute for redacted_fields. Bytes are text to a client as much as
// strings are: valid UTF-8 becomes a masked string, anything else a marker with its length (never stored raw, nor
// as base64 of the raw bytes).
func (mk *masker) maskValue(field string, v pcommon.Value, st *maskState) {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		if out, changed := mk.maskPlain(field, v.Str(), st); changed {
			v.SetStr(out)
		}
	case pcommon.ValueTypeBytes:
		b := v.Bytes().AsRaw()
		if utf8.Valid(b) {
			v.SetStr(string(b))
			mk.maskValue(field, v, st)
			return
		}
		v.SetStr("[binary withheld: " + strconv.Itoa(len(b)) + " bytes]")
		st.addField(field)
	case pcommon.ValueTypeMap:
		mk.maskKeys(v.Map(), field+".", st)
		for k, x := range v.Map().All() {
			mk.maskValue(field+"."+k, x, st)
		}
	case pcommon.ValueTypeSlice:
		s := v.Slice()
		for i := range s.Len() {
			mk.maskValue(field, s.At(i), st)
		}
	}
}

// maskPlain masks a string field that is not an attribute value (a name, a status message, a trace state, a
// schema URL) with the rule maskValue applies to attribute values: what the engine finds is replaced by its mask
// token, a value on which detection fails becomes withheldMarker (counted as withheld), and field is listed when
// something was masked or withheld. It returns s unchanged (changed false) when nothing was found or cut.
func (mk *masker) maskPlain(field, s string, st *maskState) (out string, changed bool) {
	if s == "" {
		return s, false
	}
	res, err := mk.engine.MaskWith(s, &st.pii)
	if err != nil {
		st.withheld++
		st.addField(field)
		return withheldMarker, true
	}
	if len(res.Types) > 0 {
		st.addField(field)
		st.addTypes(res.Types)
	}
	if len(res.Types) > 0 || res.Truncated {
		return res.Text, true
	}
	return s, false
}

// addTypes adds found types to the record's sorted set and to the batch's per-type counts.
func (s *maskState) addTypes(types []pii.Type) {
	for _, t := range types {
		if i, found := slices.BinarySearch(s.types, t); !found {
			s.types = slices.Insert(s.types, i, t)
		}
		s.perType[t]++
	}
}

func (s *maskState) addField(f string) {
	f = truncateUTF8(f, audit.MaxFieldPathBytes) // a path of client-chosen keys: capped like any column value
	if !slices.Contains(s.fields, f) {
		s.fields = append(s.fields, f)
	}
}

// capContent cuts masked content to max bytes on a rune boundary and marks the cut.
func capContent(s string, max int) string {
	if len(s) <= max {
		return s
	}
	return truncateUTF8(s, max) + "…[truncated]"
}

// truncateUTF8 returns the longest prefix of s of at most max bytes that ends on a rune boundary.
func truncateUTF8(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
