// govcol Log Explorer: time display. The API returns Postgres timestamps as JSON, e.g. "2026-11-23T07:49:09.69+00:00":
// the fraction has as many digits as it needs (1 to 6, none at all on a whole second) and the offset is the database
// session's. Every time on the page is shown in UTC with exactly three millisecond digits,
// "2026-11-23 07:49:09.690", never cut in the middle of the fraction or the offset.
(function () {
  "use strict";
  const RE = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

  // parse returns the instant as a Date (millisecond precision: further digits are dropped, not rounded, so that a
  // time never moves into the next millisecond, second or day), or null when ts is not a timestamp.
  function parse(ts) {
    if (typeof ts !== "string") return null;
    const m = RE.exec(ts.trim());
    if (!m) return null;
    const ms = ((m[3] || "") + "000").slice(0, 3);
    let off = m[4] || "Z";
    if (off === "z") off = "Z";
    else if (/^[+-]\d{2}$/.test(off)) off += ":00";
    else if (/^[+-]\d{4}$/.test(off)) off = off.slice(0, 3) + ":" + off.slice(3);
    const d = new Date(m[1] + "T" + m[2] + "." + ms + off);
    return isNaN(d.getTime()) ? null : d;
  }

  // format: "YYYY-MM-DD HH:MM:SS.mmm" in UTC; "—" for no value; an unparseable value is shown as it is.
  function format(ts) {
    if (ts === null || ts === undefined || ts === "") return "—";
    const d = parse(ts);
    return d ? d.toISOString().replace("T", " ").slice(0, 23) : String(ts);
  }

  // clock: "HH:MM:SS.mmm" in UTC (the date is given elsewhere, e.g. the session header).
  function clock(ts) { const s = format(ts); return s.length === 23 ? s.slice(11) : s; }

  // duration: milliseconds as "850 ms", "4.2 s", "3 min 5 s", "2 h 4 min".
  function duration(ms) {
    if (!(ms >= 0)) return "—";
    if (ms < 1000) return Math.round(ms) + " ms";
    if (ms < 60000) return (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + " s";
    const s = Math.round(ms / 1000);
    if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
    return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  }

  window.GovcolTime = Object.freeze({ parse, format, clock, duration });
})();
