package governanceprocessor // import "github.com/govcol/govcol/processor/governanceprocessor"

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/contexts/ottllog"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/contexts/ottlspan"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/ottlfuncs"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.uber.org/zap"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/pii"
)

// Built-in verdict rules (docs/ARCHITECTURE.md §6). They are always evaluated and always listed in policy_details.
const (
	ruleToolRejected         = "sys_tool_rejected"
	ruleAPIError             = "sys_api_error"
	rulePIIRedaction         = "sys_pii_redaction"
	ruleRedactionUnavailable = "sys_redaction_unavailable"
)

// OTTL conditions of the system policies. Policies see the record as it will be stored (masked, with audit.event
// and the other audit.* fields already set), so a secret shows up as its mask token: [REDACTED:<type>] or, in hash
// mode, [<type>:<hmac8>].
const (
	toolEvent = `(attributes["audit.event"] == "tool_result" or attributes["audit.event"] == "tool_decision")`

	destructiveShellRE = `(^|[\\s;&|(\"'])rm\\s+(-[a-zA-Z]*[rR][a-zA-Z]*[fF][a-zA-Z]*|-[a-zA-Z]*[fF][a-zA-Z]*[rR][a-zA-Z]*|-[rR]\\s+-[fF]|-[fF]\\s+-[rR]|--recursive\\s+--force|--force\\s+--recursive)\\s+(/|/\\*|~|~/|\\$HOME|\\*)(\\s|$|[\"';&|)])` +
		`|mkfs(\\.[a-z0-9]+)?\\s+/dev/` +
		`|\\bdd\\s+[^\\n]*\\bof=/dev/(sd|hd|nvme|xvd|vd|disk|mmcblk)` +
		`|:\\(\\)\\s*\\{\\s*:\\s*\\|\\s*:\\s*&\\s*\\}\\s*;\\s*:` +
		`|chmod\\s+-R\\s+0?777\\s+/(\\s|$|[\"';&])` +
		`|>\\s*/dev/(sd|hd|nvme)[a-z0-9]*(\\s|$|[\"'])`

	prodCredentialRE = `(?i)(\\b(prod|production)[-_.]?(db|database|rds|mysql|postgres|pg)?[-_.]?(password|passwd|pwd|secret|token|credentials?|api[-_]?key)\\b` +
		`|AWS_PROFILE=[\\w-]*prod|--profile[= ][\\w-]*prod|--context[= ][\\w-]*prod` +
		`|\\.env\\.prod(uction)?\\b|secrets?/prod(uction)?\\b)`
)

// toolEvents are the events toolEvent matches.
var toolEvents = map[string]bool{audit.EventToolResult: true, audit.EventToolDecision: true}

// secretTokenRE matches the mask token of every credential type the engine knows (pii.SecretTypes), in redact
// ([REDACTED:aws_secret_key]) and hash ([aws_secret_key:1a2b3c4d]) modes: masking runs before policies, so a secret
// in tool input is seen by its token.
var secretTokenRE = func() string {
	names := make([]string, 0, 16)
	for _, t := range pii.SecretTypes() {
		names = append(names, string(t))
	}
	return `\\[(REDACTED:)?(` + strings.Join(names, "|") + `)[:\\]]`
}()

// toolInputPatterns are the patterns (OTTL-escaped) of the system policies whose condition is toolInputMatches of
// them, by id: they get the pattern's literal filter (compiledPolicy.input).
var toolInputPatterns = map[string]string{
	"sys_destructive_shell":      destructiveShellRE,
	"sys_secret_in_tool_input":   secretTokenRE,
	"sys_production_credentials": prodCredentialRE,
}

func toolInputMatches(re string) string {
	return fmt.Sprintf(`%s and ((attributes["tool_input"] != nil and IsMatch(attributes["tool_input"], "%s")) or (attributes["tool_parameters"] != nil and IsMatch(attributes["tool_parameters"], "%s")))`, toolEvent, re, re)
}

func commandMatches(re string) string {
	return fmt.Sprintf(`attributes["full_command"] != nil and IsMatch(attributes["full_command"], "%s")`, re)
}

// systemPolicies ship enabled; disable_system_policies turns them off by id. Each is documented in the README.
var systemPolicies = []PolicyConfig{
	{ID: "sys_destructive_shell", Signal: "logs", Verdict: "blocked", Severity: "critical",
		Description: "A tool call runs a destructive shell command (rm -rf on /, ~ or *, mkfs, dd onto a disk, a fork bomb, chmod -R 777 /, writing to a raw disk).",
		Reason:      "destructive shell command in tool input", When: toolInputMatches(destructiveShellRE)},
	{ID: "sys_destructive_shell_span", Signal: "traces", Verdict: "blocked", Severity: "critical",
		Description: "The same rule on claude_code.tool spans (full_command).",
		Reason:      "destructive shell command", When: commandMatches(destructiveShellRE)},
	{ID: "sys_secret_in_tool_input", Signal: "logs", Verdict: "blocked", Severity: "high",
		Description: "A tool call's input carries a secret (cloud or API key, token, JWT, private key, password); the secret itself is masked.",
		Reason:      "secret in tool input", When: toolInputMatches(secretTokenRE)},
	{ID: "sys_secret_in_command_span", Signal: "traces", Verdict: "blocked", Severity: "high",
		Description: "The same rule on claude_code.tool spans (full_command).",
		Reason:      "secret in command", When: commandMatches(secretTokenRE)},
	{ID: "sys_production_credentials", Signal: "logs", Verdict: "needs_approval", Severity: "high",
		Description: "A tool call uses production credentials (prod passwords, tokens or keys, a prod AWS profile or kube context, .env.production, secrets/prod).",
		Reason:      "production credential use in tool input", When: toolInputMatches(prodCredentialRE)},
}

// compiledPolicy is a policy with its parsed condition.
type compiledPolicy struct {
	id, severity, reason string
	verdict              audit.Verdict
	severityRank         int
	logCond              *ottl.Condition[*ottllog.TransformContext]
	spanCond             *ottl.Condition[*ottlspan.TransformContext]
	// events, when set, are the only events the condition can match: it begins with `toolEvent and`, and
	// audit.event is the record's event. The others do not match without evaluating it (OTTL boxes every
	// attribute it reads).
	events map[string]bool
	// input, when set, is a necessary condition for the condition (toolInputMatches of a pattern) to match a
	// string tool_input or tool_parameters: the pattern's literal filter. A record whose input does not pass it does
	// not match without the condition being evaluated; any other input is left to the condition.
	input *litFilter
}

// policySet holds the enabled policies per signal, system policies first.
type policySet struct {
	logs, traces []*compiledPolicy
}

// compilePolicies parses every enabled system policy and every configured policy. An error names the policy and
// the parse problem.
func compilePolicies(cfg *Config, set component.TelemetrySettings) (*policySet, error) {
	if set.Logger == nil {
		set.Logger = zap.NewNop()
	}
	logParser, err := ottllog.NewParser(ottlfuncs.StandardConverters[*ottllog.TransformContext](), set)
	if err != nil {
		return nil, err
	}
	spanParser, err := ottlspan.NewParser(ottlfuncs.StandardConverters[*ottlspan.TransformContext](), set)
	if err != nil {
		return nil, err
	}
	disabled := map[string]bool{}
	for _, id := range cfg.DisableSystemPolicies {
		disabled[id] = true
	}
	all := make([]PolicyConfig, 0, len(systemPolicies)+len(cfg.Policies))
	for _, p := range systemPolicies {
		if !disabled[p.ID] {
			all = append(all, p)
		}
	}
	all = append(all, cfg.Policies...)

	ps := &policySet{}
	var errs []error
	for _, p := range all {
		cp := &compiledPolicy{id: p.ID, severity: p.Severity, reason: p.Reason, verdict: audit.Verdict(p.Verdict), severityRank: severities[p.Severity]}
		if re, ok := toolInputPatterns[p.ID]; ok && p.When == toolInputMatches(re) {
			raw, err := strconv.Unquote(`"` + re + `"`) // the OTTL string literal's value: the pattern IsMatch compiles
			if err == nil {
				cp.input, err = newLitFilter(raw)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("policy %q: pattern: %w", p.ID, err))
				continue
			}
		}
		if rest, ok := strings.CutPrefix(p.When, toolEvent+" and "); ok && strings.HasPrefix(p.ID, "sys_") && p.Signal != "traces" {
			// The event test runs in Go (evalLogPolicies); OTTL evaluates the rest.
			cp.events, p.When = toolEvents, rest
		}
		if cp.reason == "" {
			cp.reason = "policy " + p.ID + " matched"
		}
		switch p.Signal {
		case "traces":
			c, err := spanParser.ParseCondition(p.When)
			if err != nil {
				errs = append(errs, fmt.Errorf("policy %q: invalid OTTL condition: %w", p.ID, err))
				continue
			}
			cp.spanCond = c
			ps.traces = append(ps.traces, cp)
		default:
			c, err := logParser.ParseCondition(p.When)
			if err != nil {
				errs = append(errs, fmt.Errorf("policy %q: invalid OTTL condition: %w", p.ID, err))
				continue
			}
			cp.logCond = c
			ps.logs = append(ps.logs, cp)
		}
	}
	return ps, errors.Join(errs...)
}

// evaluation accumulates the outcome of the rules and policies on one record.
type evaluation struct {
	results  []audit.PolicyResult
	verdict  audit.Verdict
	top      int // index into results of the top matched policy, -1 when none matched
	topRank  [2]int
	failures []string // ids of policies whose evaluation failed
	// matched and reasons back the details' lists until the record is stamped.
	matched, reasons []string
}

func (e *evaluation) reset() {
	e.results = e.results[:0]
	e.verdict = audit.VerdictAllowed
	e.top = -1
	e.topRank = [2]int{-1, -1}
	e.failures = e.failures[:0]
}

// add records one evaluated rule or policy.
func (e *evaluation) add(id string, matched bool, verdict audit.Verdict, severity string, reason string) {
	r := audit.PolicyResult{ID: id, Matched: matched}
	if matched {
		r.Verdict, r.Severity, r.Reason = verdict, severity, reason
		e.verdict = audit.Stronger(e.verdict, verdict)
		rank := [2]int{verdict.Rank(), severities[severity]}
		if rank[0] > e.topRank[0] || (rank[0] == e.topRank[0] && rank[1] > e.topRank[1]) {
			e.top, e.topRank = len(e.results), rank
		}
	}
	e.results = append(e.results, r)
}

func (e *evaluation) failed(id string) {
	e.results = append(e.results, audit.PolicyResult{ID: id, Error: true})
	e.failures = append(e.failures, id)
}

// details builds policy_details. Its lists alias the evaluation's scratch slices: the caller serialises them before
// the next record is evaluated.
func (e *evaluation) details() audit.PolicyDetails {
	e.matched, e.reasons = e.matched[:0], e.reasons[:0]
	for _, r := range e.results {
		if r.Matched {
			e.matched = append(e.matched, r.ID)
			e.reasons = append(e.reasons, r.Reason)
		}
	}
	d := audit.PolicyDetails{Evaluated: e.results}
	if len(e.matched) > 0 { // nil when none matched, as before
		d.Matched, d.Reasons = e.matched, e.reasons
	}
	if e.top >= 0 {
		d.TopPolicy = e.results[e.top].ID
	}
	return d
}

func (e *evaluation) topSeverity() string {
	if e.top < 0 {
		return ""
	}
	return e.results[e.top].Severity
}

// evalLogPolicies evaluates the OTTL log policies on a record of event. A system policy that only applies to
// some events (compiledPolicy.events) does not match the others without its condition being evaluated.
//
// A system policy that matches a pattern on the tool input (compiledPolicy.input) does not match an input without
// the pattern's literals either: most tool calls are decided by a few substring searches, not by a backtracking
// match of each pattern over each input.
func (ps *policySet) evalLogPolicies(ctx context.Context, tCtx *ottllog.TransformContext, event string, e *evaluation) {
	var in toolInput
	for _, p := range ps.logs {
		if p.events != nil && !p.events[event] {
			e.add(p.id, false, p.verdict, p.severity, p.reason)
			continue
		}
		if p.input != nil && !in.mayMatch(tCtx, p.input) {
			e.add(p.id, false, p.verdict, p.severity, p.reason)
			continue
		}
		ok, err := p.logCond.Eval(ctx, tCtx)
		if err != nil {
			e.failed(p.id)
			continue
		}
		e.add(p.id, ok, p.verdict, p.severity, p.reason)
	}
}

// evalSpanPolicies evaluates the OTTL span policies on a span.
func (ps *policySet) evalSpanPolicies(ctx context.Context, tCtx *ottlspan.TransformContext, e *evaluation) {
	for _, p := range ps.traces {
		ok, err := p.spanCond.Eval(ctx, tCtx)
		if err != nil {
			e.failed(p.id)
			continue
		}
		e.add(p.id, ok, p.verdict, p.severity, p.reason)
	}
}

// toolInput is a record's tool_input and tool_parameters, read once for the policies' literal filters.
type toolInput struct {
	read    bool
	vals    [2]pcommon.Value
	present [2]bool
}

// mayMatch reports whether toolInputMatches of a pattern with filter f may match the record: one of the two
// attributes is a string that passes f, or is present and not a string (OTTL's IsMatch converts it; the condition
// decides).
func (in *toolInput) mayMatch(tCtx *ottllog.TransformContext, f *litFilter) bool {
	if !in.read {
		attrs := tCtx.GetLogRecord().Attributes()
		in.vals[0], in.present[0] = attrs.Get("tool_input")
		in.vals[1], in.present[1] = attrs.Get("tool_parameters")
		in.read = true
	}
	for i, v := range in.vals {
		if in.present[i] && (v.Type() != pcommon.ValueTypeStr || f.mayMatch(v.Str())) {
			return true
		}
	}
	return false
}
