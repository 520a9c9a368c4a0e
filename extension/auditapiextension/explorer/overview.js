// govcol Log Explorer: the overview of the filtered window, from the server-side aggregates (POST
// /api/v1/audit/activity and /api/v1/audit/developers, which read what search reads for the same license):
// records over time per verdict, and a per-developer breakdown. Every value is inserted as text.
(function () {
  "use strict";
  const SVG = "http://www.w3.org/2000/svg";
  const VERDICTS = ["allowed", "redacted", "needs_approval", "blocked", "error"];
  const T = window.GovcolTime;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function bucketName(sec) {
    if (sec < 60) return sec + " s";
    if (sec < 3600) return sec / 60 + " min";
    if (sec < 86400) return sec / 3600 + " h";
    return sec / 86400 + " d";
  }

  // breakdown: "allowed 9, redacted 2" (verdicts with a count only).
  function breakdown(byAction) {
    return VERDICTS.filter((v) => byAction[v] > 0).map((v) => v + " " + byAction[v]).join(", ");
  }

  // The activity chart: one stacked bar per bucket (a verdict per segment), the y axis scaled to the busiest bucket.
  // Clicking a bar narrows the date filters to that bucket (onBucket).
  function renderActivity(box, data, onBucket) {
    box.replaceChildren();
    const head = el("div", "panel-head");
    head.append(el("h2", null, "Activity"), el("span", "panel-sub",
      data.total + " records · " + bucketName(data.bucket_seconds) + " buckets · " +
      T.format(data.start_time) + " → " + T.format(data.end_time) + " UTC"));
    box.appendChild(head);
    if (!data.buckets.length || !data.total) { box.appendChild(el("p", "empty", "No records in this window.")); return; }

    const W = 640, H = 170, L = 40, R = 8, TOP = 8, B = 22;
    const max = Math.max(...data.buckets.map((b) => b.total));
    const bw = (W - L - R) / data.buckets.length;
    const y = (n) => TOP + (H - TOP - B) * (1 - n / max);
    const chart = svg("svg", { viewBox: "0 0 " + W + " " + H, class: "chart", role: "img", id: "activity-chart",
      "aria-label": "records over time" });
    chart.appendChild(svg("line", { x1: L, x2: W - R, y1: y(0), y2: y(0), class: "axis" }));
    chart.appendChild(svg("line", { x1: L, x2: W - R, y1: y(max), y2: y(max), class: "grid" }));
    chart.appendChild(svg("text", { x: L - 4, y: y(max) + 4, class: "tick", "text-anchor": "end" }, String(max)));
    chart.appendChild(svg("text", { x: L - 4, y: y(0), class: "tick", "text-anchor": "end" }, "0"));
    data.buckets.forEach((b, i) => {
      const g = svg("g", { class: "bucket" + (b.total ? "" : " bucket-empty"), "data-start": b.start, "data-total": b.total });
      g.appendChild(svg("title", {}, T.format(b.start) + " UTC, " + bucketName(data.bucket_seconds) + ": " + b.total +
        " records" + (b.total ? " (" + breakdown(b.by_action) + ")" : "")));
      // a full-height transparent target so that thin bars are easy to hover and click
      g.appendChild(svg("rect", { x: L + i * bw, y: TOP, width: bw, height: H - TOP - B, class: "hit" }));
      let acc = 0;
      for (const v of VERDICTS) {
        const n = b.by_action[v] || 0;
        if (!n) continue;
        g.appendChild(svg("rect", { x: L + i * bw + bw * 0.1, width: Math.max(bw * 0.8, 1), y: y(acc + n),
          height: y(acc) - y(acc + n), class: "bar bar-" + v }));
        acc += n;
      }
      if (b.total) g.addEventListener("click", () => onBucket(b.start, data.bucket_seconds));
      chart.appendChild(g);
    });
    const first = data.buckets[0].start, last = data.buckets[data.buckets.length - 1].start;
    const label = (ts) => data.bucket_seconds >= 86400 ? T.format(ts).slice(0, 10)
      : data.bucket_seconds >= 60 ? T.format(ts).slice(0, 16) : T.format(ts).slice(0, 19);
    chart.appendChild(svg("text", { x: L, y: H - 6, class: "tick" }, label(first)));
    chart.appendChild(svg("text", { x: W - R, y: H - 6, class: "tick", "text-anchor": "end" }, label(last)));
    box.appendChild(chart);
    const legend = el("div", "legend");
    for (const v of VERDICTS) {
      const n = data.buckets.reduce((s, b) => s + (b.by_action[v] || 0), 0);
      if (!n) continue;
      const item = el("span", "legend-item");
      item.append(el("span", "swatch bar-" + v), el("span", null, v + " " + n));
      legend.appendChild(item);
    }
    box.appendChild(legend);
  }

  // The per-developer breakdown: clicking a developer filters the page to that developer (onDeveloper).
  function renderDevelopers(box, data, onDeveloper) {
    box.replaceChildren();
    const head = el("div", "panel-head");
    head.append(el("h2", null, "Developers"), el("span", "panel-sub",
      data.total + (data.total === 1 ? " developer" : " developers") +
      (data.total > data.entries.length ? " · top " + data.entries.length + " by records" : "")));
    box.appendChild(head);
    if (!data.entries.length) { box.appendChild(el("p", "empty", "No records in this window.")); return; }
    const t = el("table", "compact");
    t.id = "developers-table";
    const hr = el("tr");
    for (const h of ["Developer", "Records", "Sessions", "Decisions", "Tokens", "Cost (USD)", "Last seen (UTC)"]) {
      hr.appendChild(el("th", ["Records", "Sessions", "Tokens", "Cost (USD)"].includes(h) ? "num" : null, h));
    }
    const thead = el("thead"); thead.appendChild(hr); t.appendChild(thead);
    const tbody = el("tbody");
    for (const d of data.entries) {
      const tr = el("tr", "dev-row");
      const who = el("td");
      const a = el("a", "dev-link", d.user_email);
      a.href = "#";
      a.addEventListener("click", (ev) => { ev.preventDefault(); onDeveloper(d.user_email, d.tenant_id); });
      who.append(a, el("div", "dev-tenant", d.tenant_id));
      const dec = el("td");
      for (const v of VERDICTS) if (d.by_action[v] > 0) dec.appendChild(el("span", "verdict v-" + v, v + " " + d.by_action[v]));
      tr.append(who, el("td", "num", d.records), el("td", "num", d.sessions), dec,
        el("td", "num", d.tokens_used == null ? "—" : d.tokens_used.toLocaleString("en-US")),
        el("td", "num", d.cost == null ? "—" : d.cost.toFixed(4)), el("td", "nowrap", T.format(d.last_seen)));
      tbody.appendChild(tr);
    }
    t.appendChild(tbody);
    box.appendChild(t);
  }

  // load fetches both aggregates for the filters f and renders them; ctx: {api, onBucket, onDeveloper}.
  async function load(f, ctx) {
    const [act, dev] = await Promise.all([
      ctx.api("POST", "/api/v1/audit/activity", f).then((r) => r.json()),
      ctx.api("POST", "/api/v1/audit/developers", Object.assign({}, f, { limit: 20 })).then((r) => r.json()),
    ]);
    renderActivity(document.getElementById("activity"), act, ctx.onBucket);
    renderDevelopers(document.getElementById("developers"), dev, ctx.onDeveloper);
  }

  window.GovcolOverview = Object.freeze({ load });
})();
