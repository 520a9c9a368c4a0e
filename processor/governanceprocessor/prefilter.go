package governanceprocessor // import "github.com/govcol/govcol/processor/governanceprocessor"

import (
	"regexp/syntax"
	"strings"
	"unicode"
	"unicode/utf8"
)

// litFilter is a necessary condition for a regular expression to match, derived from its syntax: the literal
// strings every match contains, combined as the expression combines them (a concatenation needs all of its parts'
// literals, an alternation one of its branches'). A string in which mayMatch is false cannot match the expression;
// one in which it is true may or may not. The system policies' patterns run on a tool event's input only when it
// passes their filter (evalLogPolicies): a backtracking match over the whole input is most of their cost, a few
// substring searches are not.
type litFilter struct {
	op   filterOp
	lit  string // filterLit: the literal, in ASCII lower case when fold
	fold bool   // filterLit: matched ASCII case-insensitively
	subs []*litFilter
}

type filterOp uint8

const (
	filterLit filterOp = iota
	filterAll
	filterAny
)

// newLitFilter derives the filter of the RE2 pattern re; it is nil when re requires no literal (every string may
// match).
func newLitFilter(re string) (*litFilter, error) {
	parsed, err := syntax.Parse(re, syntax.Perl)
	if err != nil {
		return nil, err
	}
	return filterOf(parsed.Simplify()), nil
}

// filterOf is the filter of one node (nil: no literal required).
func filterOf(re *syntax.Regexp) *litFilter {
	switch re.Op {
	case syntax.OpLiteral:
		return literalFilter(re.Rune, re.Flags&syntax.FoldCase != 0)
	case syntax.OpCapture, syntax.OpPlus:
		return filterOf(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return filterOf(re.Sub[0])
		}
	case syntax.OpConcat:
		var subs []*litFilter
		for _, s := range re.Sub {
			if f := filterOf(s); f != nil {
				subs = append(subs, f)
			}
		}
		return combine(filterAll, subs)
	case syntax.OpAlternate:
		subs := make([]*litFilter, 0, len(re.Sub))
		for _, s := range re.Sub {
			f := filterOf(s)
			if f == nil {
				return nil // a branch that needs no literal: anything may match
			}
			subs = append(subs, f)
		}
		return combine(filterAny, subs)
	}
	// Anchors, word boundaries, classes, any-character, optional and starred parts: no literal required.
	return nil
}

func combine(op filterOp, subs []*litFilter) *litFilter {
	switch len(subs) {
	case 0:
		return nil
	case 1:
		return subs[0]
	}
	return &litFilter{op: op, subs: subs}
}

// literalFilter is the filter of a literal run. A case-folded literal is matched in ASCII only, so it is cut at
// every rune whose case folding reaches beyond ASCII (k folds to the Kelvin sign, s to the long s) or that is not
// ASCII: the pieces between are required, each in ASCII case. U+FFFD is a cut too: the expression matches it on
// any invalid UTF-8 byte, which the bytes of U+FFFD are not.
func literalFilter(runes []rune, fold bool) *litFilter {
	var pieces []*litFilter
	var b strings.Builder
	flush := func() {
		if b.Len() > 0 {
			pieces = append(pieces, &litFilter{op: filterLit, lit: b.String(), fold: fold})
			b.Reset()
		}
	}
	for _, r := range runes {
		switch {
		case r == utf8.RuneError:
			flush()
		case fold && !asciiFold(r):
			flush()
		case fold:
			b.WriteRune(unicode.ToLower(r))
		default:
			b.WriteRune(r)
		}
	}
	flush()
	return combine(filterAll, pieces)
}

// asciiFold reports whether r is ASCII and every rune it case-folds to is too.
func asciiFold(r rune) bool {
	if r >= utf8.RuneSelf {
		return false
	}
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// mayMatch reports whether s passes the filter (a nil filter passes everything).
func (f *litFilter) mayMatch(s string) bool {
	if f == nil {
		return true
	}
	switch f.op {
	case filterLit:
		if f.fold {
			return containsFoldASCII(s, f.lit)
		}
		return strings.Contains(s, f.lit)
	case filterAll:
		for _, sub := range f.subs {
			if !sub.mayMatch(s) {
				return false
			}
		}
		return true
	default:
		for _, sub := range f.subs {
			if sub.mayMatch(s) {
				return true
			}
		}
		return false
	}
}

// containsFoldASCII reports whether s contains lower (ASCII, lower case) in any ASCII case.
func containsFoldASCII(s, lower string) bool {
	if len(lower) == 0 {
		return true
	}
	first := lower[0]
	upper := first
	if first >= 'a' && first <= 'z' {
		upper -= 'a' - 'A'
	}
	for i := 0; i+len(lower) <= len(s); i++ {
		if c := s[i]; c != first && c != upper {
			continue
		}
		j := 1
		for ; j < len(lower); j++ {
			c := s[i+j]
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != lower[j] {
				break
			}
		}
		if j == len(lower) {
			return true
		}
	}
	return false
}
