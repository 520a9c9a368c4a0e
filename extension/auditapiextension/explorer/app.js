// govcol Log Explorer: plain JavaScript over the audit API. The license lives in sessionStorage (this tab only)
// and is sent as a Bearer token; every value is inserted as text, never as HTML.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const PAGE = 50;
  let offset = 0, total = 0;

  function license() { return sessionStorage.getItem("govcol.license") || ""; }
  function status(msg, isError) { const s = $("status"); s.textContent = msg; s.className = isError ? "error" : ""; }

  async function api(method, path, body) {
    const res = await fetch(path, {
      method, headers: { "Authorization": "Bearer " + license(), "Content-Type": "application/json" },
      body: body ? JSON.stringify(body) : undefined,
    });
    if (!res.ok) {
      let msg = res.status + " " + res.statusText;
      try { msg = (await res.json()).error || msg; } catch (e) { /* not JSON */ }
      throw new Error(msg);
    }
    return res;
  }

  function isoOrEmpty(v) { return v ? new Date(v + "Z").toISOString() : ""; }

  function filters() {
    const f = {};
    const set = (k, v) => { if (v) f[k] = v; };
    set("start_time", isoOrEmpty($("f-start").value));
    set("end_time", isoOrEmpty($("f-end").value));
    set("user_email", $("f-user").value.trim());
    set("tenant_id", $("f-tenant").value.trim());
    set("action", $("f-action").value);
    set("origin", $("f-origin").value);
    set("session_id", $("f-session").value.trim());
    return f;
  }

  function cell(tr, text, cls) {
    const td = document.createElement("td");
    if (cls) { const s = document.createElement("span"); s.className = cls; s.textContent = text; td.appendChild(s); }
    else td.textContent = text == null ? "" : text;
    tr.appendChild(td);
  }

  function fmt(v) {
    if (v === null || v === undefined || v === "") return "—";
    if (typeof v === "object") return JSON.stringify(v, null, 1);
    return String(v);
  }

  // sessionLink: a link to the session view of id (#session=<id>); the row it sits in does not toggle.
  function sessionLink(id, short) {
    const a = document.createElement("a");
    a.className = "session-link"; a.href = "#session=" + encodeURIComponent(id); a.title = id;
    a.textContent = short && id.length > 12 ? id.slice(0, 8) + "…" : id;
    a.addEventListener("click", (ev) => ev.stopPropagation());
    return a;
  }

  function detail(e) {
    const pd = e.policy_details || {};
    const fields = [
      ["Time (UTC)", GovcolTime.format(e.timestamp)], ["Decision", e.policy_decision], ["Decision id", e.decision_id], ["Record id", e.id], ["Plane", e.plane],
      ["Origin", e.origin], ["Tenant", e.tenant_id], ["User", e.user_email + " (" + e.identity_source + ")"],
      ["Request (masked)", e.query], ["Response (masked)", e.response_sample],
      ["Matched policies", (pd.matched || []).join(", ")], ["Reasons", (pd.reasons || []).join("; ")],
      ["Top policy", pd.top_policy], ["Obligations", (e.obligations || []).join(", ")],
      ["PII types", (e.pii_types || []).join(", ")], ["Tool", e.tool_name], ["Model", e.model],
      ["Correlation id", e.correlation_id], ["Request id", e.request_id], ["Session id", e.session_id],
      ["Trace / span", (e.trace_id || "—") + " / " + (e.span_id || "—")], ["Latency (ms)", e.response_time_ms],
      ["Tokens (in / out / total)", [e.input_tokens, e.output_tokens, e.tokens_used].map(fmt).join(" / ")],
      ["Cost (USD)", e.cost], ["Compliance flags", e.compliance_flags],
      ["Chain", e.chain_id ? e.chain_id + " #" + e.chain_seq : "not chained"], ["Record hash", e.record_hash],
    ];
    const panel = document.createElement("div");
    panel.className = "detail-panel";
    panel.id = "detail";
    const dl = document.createElement("dl");
    for (const [k, v] of fields) {
      const dt = document.createElement("dt"); dt.textContent = k;
      const dd = document.createElement("dd"); dd.textContent = fmt(v); dd.dataset.field = k;
      if (k === "Session id" && v) dd.replaceChildren(sessionLink(v, false));
      dl.append(dt, dd);
    }
    panel.appendChild(dl);
    return panel;
  }

  function toggle(tr, e) {
    const next = tr.nextElementSibling;
    if (next && next.classList.contains("detail")) { next.remove(); return; }
    document.querySelectorAll("tr.detail").forEach((d) => d.remove());
    const d = document.createElement("tr"); d.className = "detail";
    const td = document.createElement("td"); td.colSpan = 8; td.appendChild(detail(e));
    d.appendChild(td); tr.after(d);
  }

  async function search() {
    status("Loading…");
    try {
      const res = await api("POST", "/api/v1/audit/search", Object.assign(filters(), { limit: PAGE, offset }));
      const data = await res.json();
      total = data.total;
      const tbody = $("results").querySelector("tbody");
      tbody.replaceChildren();
      for (const e of data.entries) {
        const tr = document.createElement("tr"); tr.className = "row";
        cell(tr, GovcolTime.format(e.timestamp));
        cell(tr, e.user_email);
        const sc = document.createElement("td"); if (e.session_id) sc.appendChild(sessionLink(e.session_id, true)); tr.appendChild(sc);
        cell(tr, e.request_type);
        cell(tr, e.policy_decision, "verdict v-" + e.policy_decision);
        cell(tr, e.origin); cell(tr, e.tool_name); cell(tr, e.model);
        tr.addEventListener("click", () => toggle(tr, e));
        tbody.appendChild(tr);
      }
      $("page-info").textContent = total ? (offset + 1) + "–" + (offset + data.entries.length) + " of " + total : "no records";
      $("prev").disabled = offset === 0;
      $("next").disabled = offset + PAGE >= total;
      status(total + " records");
    } catch (err) { status(err.message, true); return; }
    if (offset === 0) overview();
  }

  // The activity chart and the per-developer breakdown of the filtered window (overview.js).
  function overview() {
    GovcolOverview.load(filters(), {
      api,
      onBucket: (start, seconds) => {
        const t = GovcolTime.parse(start);
        const local = (d) => d.toISOString().slice(0, seconds >= 60 ? 16 : 23);
        $("f-start").value = local(t);
        $("f-end").value = local(new Date(t.getTime() + seconds * 1000));
        offset = 0; search();
      },
      onDeveloper: (email) => { $("f-user").value = email; offset = 0; search(); },
    }).catch((err) => status(err.message, true));
  }

  // Routing: #session=<id> shows the session view (session.js), anything else the filtered list.
  function route() {
    const m = /^#session=(.+)$/.exec(location.hash);
    $("session-view").hidden = !m;
    $("list-view").hidden = !!m;
    if (m) {
      $("report").hidden = true;
      GovcolSession.open(decodeURIComponent(m[1]), { api, status, detail });
      return true;
    }
    return false;
  }

  async function report() {
    try {
      const f = filters();
      const res = await api("POST", "/api/v1/audit/report", f);
      const r = await res.json();
      const box = $("report"); box.hidden = false; box.replaceChildren();
      const h = document.createElement("h2"); h.textContent = "Report by action"; box.appendChild(h);
      const t = document.createElement("table"); t.id = "report-table";
      for (const [k, v] of Object.entries(r.by_action)) {
        const tr = document.createElement("tr"); cell(tr, k, "verdict v-" + k); cell(tr, v); t.appendChild(tr);
      }
      const lat = document.createElement("tr");
      cell(lat, "average latency (ms)"); cell(lat, r.avg_latency_ms == null ? "—" : r.avg_latency_ms.toFixed(1) + " (" + r.latency_samples + " samples)");
      t.appendChild(lat);
      box.appendChild(t);
      const p = document.createElement("table");
      for (const pc of r.top_policies) {
        const tr = document.createElement("tr"); cell(tr, pc.policy_id); cell(tr, pc.triggers + " triggers"); cell(tr, pc.blocks + " blocks"); p.appendChild(tr);
      }
      box.appendChild(p);
    } catch (err) { status(err.message, true); }
  }

  async function exportAs(format) {
    try {
      const res = await api("POST", "/api/v1/audit/export?format=" + format, filters());
      const blob = await res.blob();
      // An export that failed mid-stream ends with a marker ("# error: export incomplete ..." in CSV, a final
      // {"error": "export incomplete ..."} in JSON); the X-Export-Status trailer is not visible to fetch.
      const tail = await blob.slice(Math.max(0, blob.size - 512)).text();
      if (tail.includes("export incomplete")) { status("Export incomplete: the download stopped early; try again or narrow the filters", true); return; }
      const a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = "audit-export." + format;
      document.body.appendChild(a); a.click(); a.remove();
      status(res.headers.get("X-Audit-Export-Truncated") === "true"
        ? "Export capped at " + res.headers.get("X-Audit-Export-Row-Cap") + " rows" : "Export ready");
    } catch (err) { status(err.message, true); }
  }

  $("auth").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem("govcol.license", $("license").value.trim());
    $("license").value = "";
    $("who").textContent = "license set";
    offset = 0;
    if (!route()) search();
  });
  $("filters").addEventListener("submit", (ev) => {
    ev.preventDefault(); offset = 0;
    if (location.hash.length > 1) { location.hash = ""; return; } // back to the list: hashchange searches
    search();
  });
  // "Back to results" is a link to "#"; a session link sets #session=<id>; the browser's back button works too.
  window.addEventListener("hashchange", () => { if (license() && !route()) search(); });
  $("prev").addEventListener("click", () => { offset = Math.max(0, offset - PAGE); search(); });
  $("next").addEventListener("click", () => { offset += PAGE; search(); });
  $("report-btn").addEventListener("click", report);
  $("export-csv").addEventListener("click", () => exportAs("csv"));
  $("export-json").addEventListener("click", () => exportAs("json"));
  if (license()) { $("who").textContent = "license set"; if (!route()) search(); } else { status("Enter a license to read the audit trail."); }
})();
