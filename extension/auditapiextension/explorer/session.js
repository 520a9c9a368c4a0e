// govcol Log Explorer: the session view. One session's events in the order they happened (GET
// /api/v1/audit/session/{id}: event time, then Claude Code's event.sequence), as a reviewer reads them: the prompt,
// the tool decisions, the tool results, the API requests and the response, each with its verdict and its masked
// content. The license's scope applies as on search: a per-developer license sees its own events of the session.
(function () {
  "use strict";
  const T = window.GovcolTime;
  const PAGE = 500;
  const VERDICTS = ["allowed", "redacted", "needs_approval", "blocked", "error"];

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  // The event name: metadata's event.name, else the request_type after its plane prefix.
  function eventName(e) {
    const m = e.metadata || {};
    return String(m["event.name"] || m.event_name || (e.request_type || "").replace(/^(claude_code|claude_desktop|cowork|sdk|gateway|plugin|unknown)_/, ""));
  }

  const KINDS = {
    user_prompt: ["Prompt", "k-prompt"], tool_decision: ["Tool decision", "k-decision"],
    tool_result: ["Tool result", "k-result"], api_request: ["API request", "k-api"],
    api_error: ["API error", "k-error"], assistant_response: ["Response", "k-response"],
  };
  function kind(e) {
    const n = eventName(e);
    return KINDS[n] || [n.replace(/[._]/g, " ").replace(/^./, (c) => c.toUpperCase()), "k-other"];
  }

  // summary is the one-line gist of an event: what was decided, what ran, what it cost.
  function summary(e) {
    const m = e.metadata || {}, n = eventName(e), parts = [];
    const num = (v) => (v === null || v === undefined || v === "" ? null : v);
    switch (n) {
      case "tool_decision":
        parts.push((e.tool_name || "tool") + ": " + (m.decision || "decided") + (m.source ? " (" + m.source + ")" : ""));
        break;
      case "tool_result":
        parts.push((e.tool_name || "tool") + ": " + (String(m.success) === "true" ? "succeeded" : String(m.success) === "false" ? "failed" : "ran") +
          (num(m.duration_ms) !== null ? " in " + m.duration_ms + " ms" : ""));
        break;
      case "api_request":
        if (e.model) parts.push(e.model);
        if (e.tokens_used != null) parts.push(e.tokens_used + " tokens");
        if (e.cost != null) parts.push("$" + Number(e.cost).toFixed(4));
        if (e.response_time_ms != null) parts.push(e.response_time_ms + " ms");
        break;
      case "user_prompt":
        if (num(m.prompt_length) !== null) parts.push(m.prompt_length + " characters");
        break;
      case "assistant_response":
        if (e.model) parts.push(e.model);
        break;
      default:
        if (m["plugin.name"]) parts.push(String(m["plugin.name"]));
        if (e.tool_name) parts.push(e.tool_name);
    }
    if ((e.pii_types || []).length) parts.push("PII: " + e.pii_types.join(", "));
    const pd = e.policy_details || {};
    if ((pd.matched || []).length) parts.push("policies: " + pd.matched.join(", "));
    return parts.join(" · ");
  }

  // content blocks: the masked request and response as stored (the only content the audit trail keeps).
  function contentLabel(n) {
    if (n === "user_prompt") return "Prompt (masked)";
    if (n === "tool_decision" || n === "tool_result") return "Tool input (masked)";
    return "Request (masked)";
  }

  function eventItem(e, start, ctx) {
    const li = el("li", "ev");
    const [label, cls] = kind(e);
    li.classList.add(cls);
    li.dataset.kind = label;
    const when = el("div", "ev-time");
    when.append(el("span", "ev-clock", T.clock(e.timestamp)));
    const t0 = T.parse(start), t = T.parse(e.timestamp);
    if (t0 && t) when.append(el("span", "ev-offset", "+" + T.duration(t - t0)));
    const body = el("div", "ev-body");
    const head = el("div", "ev-head");
    head.append(el("span", "ev-kind", label), el("span", "verdict v-" + e.policy_decision, e.policy_decision));
    const gist = summary(e);
    if (gist) head.append(el("span", "ev-summary", gist));
    body.appendChild(head);
    const n = eventName(e);
    if (e.query) { body.append(el("div", "ev-label", contentLabel(n)), el("pre", "ev-content", e.query)); }
    if (e.response_sample) { body.append(el("div", "ev-label", "Response (masked)"), el("pre", "ev-content", e.response_sample)); }
    li.append(when, body);
    li.addEventListener("click", (ev) => {
      if (ev.target.closest(".detail-panel")) return;
      const open = li.querySelector(".detail-panel");
      if (open) { open.remove(); return; }
      body.appendChild(ctx.detail(e));
    });
    return li;
  }

  function renderSummary(box, s) {
    box.replaceChildren();
    const fields = [
      ["Developer", s.user_emails.length ? s.user_emails.join(", ") : "—"],
      ["Started (UTC)", T.format(s.start_time)], ["Ended (UTC)", T.format(s.end_time)],
      ["Duration", s.start_time ? T.duration(T.parse(s.end_time) - T.parse(s.start_time)) : "—"],
      ["Events", String(s.total)],
    ];
    const dl = el("dl", "session-summary");
    for (const [k, v] of fields) { dl.append(el("dt", null, k), el("dd", null, v)); }
    const dd = el("dd");
    for (const v of VERDICTS) if (s.by_action[v] > 0) dd.appendChild(el("span", "verdict v-" + v, v + " " + s.by_action[v]));
    dl.append(el("dt", null, "Decisions"), dd);
    box.appendChild(dl);
  }

  // open shows session id; ctx: {api, status, detail(entry) -> element}.
  async function open(id, ctx) {
    const view = document.getElementById("session-view");
    const list = document.getElementById("session-events");
    const more = document.getElementById("session-more");
    document.getElementById("session-id").textContent = id;
    list.replaceChildren();
    document.getElementById("session-summary").replaceChildren();
    more.hidden = true;
    view.hidden = false;
    let offset = 0, start = null;
    const page = async () => {
      ctx.status("Loading session…");
      const res = await ctx.api("GET", "/api/v1/audit/session/" + encodeURIComponent(id) + "?limit=" + PAGE + "&offset=" + offset);
      const s = await res.json();
      if (offset === 0) { renderSummary(document.getElementById("session-summary"), s); start = s.start_time; }
      for (const e of s.entries) list.appendChild(eventItem(e, start, ctx));
      offset += s.entries.length;
      more.hidden = offset >= s.total;
      more.textContent = "Load more (" + offset + " of " + s.total + " shown)";
      ctx.status(s.total ? "Session: " + s.total + " events" : "No events of this session are readable with this license", !s.total);
    };
    more.onclick = () => page().catch((err) => ctx.status(err.message, true));
    try { await page(); } catch (err) { ctx.status(err.message, true); }
  }

  window.GovcolSession = Object.freeze({ open });
})();
