// neighborwatch dashboard: incident queue (filters, paging, true counts), incident page (timeline of
// every contributing activity with its raw log fields, its alerts with their reasons — first time for
// the user? how many peers ever did it?), user page (baseline vs peers vs latest day), confirm /
// dismiss with a note. Plain JS served as a file (no inline script); keyboard-driven.
(function () {
  "use strict";
  const params = new URLSearchParams(location.search);
  const token = params.get("token") || sessionStorage.getItem("nw-token") || "";
  if (token) sessionStorage.setItem("nw-token", token);
  const H = { Authorization: "Bearer " + token, "Content-Type": "application/json" };
  const $ = (id) => document.getElementById(id);
  const PAGE = Math.max(1, Math.min(500, parseInt(params.get("page") || "50", 10) || 50));
  const state = { filters: { status: "open", user: "", kind: "", since: "", until: "", order: "peak" },
                  offset: 0, total: 0, rows: [], selected: 0, current: null };
  const RAW_SKIP = new Set(["event_id", "time", "user", "host", "source", "action"]);

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (v !== null && v !== undefined) e.setAttribute(k, v);
    }
    for (const k of kids.flat()) if (k !== null && k !== undefined) e.append(k.nodeType ? k : String(k));
    return e;
  }
  async function api(path, opts) {
    const r = await fetch(path, Object.assign({ headers: H }, opts || {}));
    if (!r.ok) throw new Error(path + " → " + r.status);
    return r.json();
  }
  const fmtTime = (iso) => (iso || "").replace("T", " ").slice(0, 19);
  const num = (v, d) => (v === null || v === undefined ? "–" : Number(v).toFixed(d));
  const activityName = (raw) => (raw ? raw.source + " / " + raw.action : "?");
  const details = (raw) => Object.entries(raw || {}).filter(([k]) => !RAW_SKIP.has(k))
    .map(([k, v]) => k + ": " + v).join(" · ");
  // familiarity reasons of an alert (absent for models trained before they existed)
  const userHistory = (f) => !f ? "–" : f.first_time_for_user
    ? el("span", { class: "badge first" }, "first time" + (f.user_training_days ? "" : " (no training history)"))
    : f.user_count + " times on " + f.user_days + " days";
  const peerHistory = (f) => {
    if (!f) return "–";
    const group = String(f.peer_group).replace("=", " ");
    if (!f.peer_users) return "no peers (" + group + ")";
    return el("span", {}, f.peer_users_with_it + " of " + f.peer_users + " peers (" + group + ") ever did it ",
      f.rare_among_peers ? el("span", { class: "badge rare" }, "rare") : null);
  };
  const drivers = (inc) => (inc.drivers || []).slice(0, 2).map((a) => activityName(a.raw)).join(", ");

  // -- header counts (from the store: true totals, not the page) ---------------------------------
  async function refreshCounts() {
    const c = await api("/incidents/counts");
    $("n-events").textContent = c.events; $("n-incidents").textContent = c.incidents;
    $("n-open").textContent = c.open; $("n-alerts").textContent = c.alerts;
  }

  // -- queue ------------------------------------------------------------------------------------
  function filterForm() {
    const f = state.filters;
    const opt = (v, label, cur) => el("option", { value: v, selected: v === cur ? "" : null }, label);
    const onchange = () => { readFilters(); state.offset = 0; loadQueue(); };
    return el("form", { id: "filters", class: "filters", onsubmit: (e) => { e.preventDefault(); onchange(); } },
      el("label", {}, "user ", el("input", { id: "f-user", type: "search", value: f.user, placeholder: "any", size: 10 })),
      el("label", {}, "kind ", el("select", { id: "f-kind", onchange },
        opt("", "any", f.kind), opt("risk", "risk", f.kind), opt("activity", "activity", f.kind))),
      el("label", {}, "status ", el("select", { id: "f-status", onchange },
        opt("open", "open", f.status), opt("", "all", f.status), opt("confirmed", "confirmed", f.status),
        opt("dismissed", "dismissed", f.status))),
      el("label", {}, "from ", el("input", { id: "f-since", type: "datetime-local", value: f.since, onchange })),
      el("label", {}, "to ", el("input", { id: "f-until", type: "datetime-local", value: f.until, onchange })),
      el("label", {}, "order ", el("select", { id: "f-order", onchange },
        opt("peak", "riskiest first", f.order), opt("recent", "newest first", f.order))),
      el("button", { type: "submit" }, "Filter"));
  }
  function readFilters() {
    state.filters = { user: $("f-user").value.trim(), kind: $("f-kind").value, status: $("f-status").value,
                      since: $("f-since").value, until: $("f-until").value, order: $("f-order").value };
  }
  function queueView() {
    const view = $("view");
    view.replaceChildren(
      el("div", { class: "panel-head" }, el("h2", {}, "Incident queue"), filterForm()),
      el("table", { id: "incidents", class: "grid" },
        el("thead", {}, el("tr", {}, ["#", "user", "start", "end", "activities", "alerts", "kinds", "peak risk",
          "driven by", "status"].map((h) => el("th", {}, h)))),
        el("tbody", {})),
      el("p", { id: "empty", class: "muted", hidden: "" }, "No incidents match — they appear here as the detector raises them."),
      el("div", { class: "pager" },
        el("button", { id: "prev", onclick: () => { state.offset = Math.max(0, state.offset - PAGE); loadQueue(); } }, "‹ previous"),
        el("span", { id: "page-info" }, ""),
        el("button", { id: "next", onclick: () => { state.offset += PAGE; loadQueue(); } }, "next ›")));
    loadQueue();
  }
  let queueRequests = 0;  // a response that arrives after a newer request's is dropped
  async function loadQueue() {
    const f = state.filters;
    const q = new URLSearchParams({ offset: state.offset, limit: PAGE, order: f.order });
    for (const k of ["status", "user", "kind", "since", "until"]) if (f[k]) q.set(k, f[k]);
    const mine = ++queueRequests;
    const body = await api("/incidents?" + q.toString());
    if (mine !== queueRequests || !$("incidents")) return;
    state.total = body.total; state.rows = body.incidents;
    state.selected = Math.min(state.selected, Math.max(0, state.rows.length - 1));
    const tbody = $("incidents").tBodies[0];
    tbody.replaceChildren(...body.incidents.map((inc, i) => el("tr", {
        class: "incident status-" + inc.status + (inc.kinds && inc.kinds.risk ? " kind-risk" : ""),
        "data-incident-id": inc.incident_id, onclick: () => openIncident(inc.incident_id) },
      el("td", {}, el("a", { href: "#/incident/" + encodeURIComponent(inc.incident_id) }, String(state.offset + i + 1))),
      el("td", {}, el("a", { href: "#/user/" + encodeURIComponent(inc.user) }, inc.user)),
      el("td", {}, fmtTime(inc.start)), el("td", {}, fmtTime(inc.end)),
      el("td", { class: "n" }, inc.n_activities), el("td", { class: "n" }, inc.alerts),
      el("td", {}, Object.keys(inc.kinds || {}).join(", ")), el("td", { class: "n" }, num(inc.peak_risk, 2)),
      el("td", {}, drivers(inc)), el("td", {}, el("span", { class: "badge " + inc.status }, inc.status)))));
    $("empty").hidden = body.total > 0;
    const last = Math.min(state.offset + body.incidents.length, body.total);
    $("page-info").textContent = body.total ? (state.offset + 1) + "–" + last + " of " + body.total : "0 of 0";
    $("prev").disabled = state.offset === 0;
    $("next").disabled = last >= body.total;
    select(state.selected);
  }
  function select(i) {
    const rows = $("incidents") ? $("incidents").tBodies[0].rows : [];
    if (!rows.length) return;
    state.selected = Math.max(0, Math.min(rows.length - 1, i));
    for (const r of rows) r.classList.remove("selected");
    rows[state.selected].classList.add("selected");
    rows[state.selected].scrollIntoView({ block: "nearest" });
  }
  const openIncident = (id) => { location.hash = "#/incident/" + encodeURIComponent(id); };

  // -- incident ---------------------------------------------------------------------------------
  async function incidentView(id) {
    const inc = await api("/incidents/" + encodeURIComponent(id));
    const mine = await api("/alerts?" + new URLSearchParams({ user: inc.user, limit: 500 }).toString());
    const alerts = mine.alerts.filter((a) => a.incident && a.incident.incident_id === id)
      .sort((a, b) => a.time_us - b.time_us);
    state.current = inc;
    const top = new Set((inc.drivers || []).map((a) => a.event_id));
    const acts = (inc.activities || []).slice().sort((a, b) => a.time_us - b.time_us);
    const setStatus = (s) => async () => {
      const upd = await api("/incidents/" + encodeURIComponent(id) + "/status",
        { method: "POST", body: JSON.stringify({ status: s, note: $("note").value || null }) });
      state.current = upd;
      $("status-badge").textContent = upd.status; $("status-badge").className = "badge " + upd.status;
      $("saved").textContent = "saved: " + upd.status;
      refreshCounts();
    };
    $("view").replaceChildren(
      el("p", {}, el("a", { href: "#/", id: "back" }, "‹ queue")),
      el("h2", {}, "Incident on ", el("a", { href: "#/user/" + encodeURIComponent(inc.user) }, inc.user), " ",
        el("span", { id: "status-badge", class: "badge " + inc.status }, inc.status)),
      el("dl", { class: "facts" },
        el("dt", {}, "start"), el("dd", {}, fmtTime(inc.start)), el("dt", {}, "end"), el("dd", {}, fmtTime(inc.end)),
        el("dt", {}, "peak risk"), el("dd", {}, num(inc.peak_risk, 2)),
        el("dt", {}, "alerts"), el("dd", {}, inc.alerts + " (" + Object.entries(inc.kinds || {}).map(([k, v]) => k + " " + v).join(", ") + ")"),
        el("dt", {}, "activities"), el("dd", {}, inc.n_activities + (inc.activities_partial ? " (drivers shown)" : ""))),
      el("div", { class: "triage" },
        el("label", { for: "note" }, "note"), el("textarea", { id: "note", rows: 2, placeholder: "what you found" }, inc.note || ""),
        el("button", { id: "confirm", class: "confirm", onclick: setStatus("confirmed") }, "Confirm (c)"),
        el("button", { id: "dismiss", class: "dismiss", onclick: setStatus("dismissed") }, "Dismiss (d)"),
        el("button", { id: "reopen", onclick: setStatus("open") }, "Reopen (o)"),
        el("span", { id: "saved", class: "muted" }, "")),
      el("h3", {}, "Timeline: every activity that raised this user's risk (drivers marked)"),
      el("table", { id: "timeline-table", class: "grid" },
        el("thead", {}, el("tr", {}, ["time", "host", "activity", "details (URL, file, recipients…)", "score",
          "vs normal", "risk", "added"].map((h) => el("th", {}, h)))),
        el("tbody", {}, acts.map((a) => el("tr", { class: top.has(a.event_id) ? "driver" : "" },
          el("td", {}, fmtTime((a.raw || {}).time)), el("td", {}, (a.raw || {}).host || ""),
          el("td", {}, activityName(a.raw)), el("td", { class: "detail" }, details(a.raw)),
          el("td", { class: "n" }, num(a.score, 4)), el("td", { class: "n" }, (a.z >= 0 ? "+" : "") + num(a.z, 1) + "σ"),
          el("td", { class: "n" }, num(a.risk, 2)), el("td", { class: "n" }, num(a.contribution, 2)))))),
      el("h3", {}, "Alerts and why"),
      el("table", { id: "alerts-table", class: "grid" },
        el("thead", {}, el("tr", {}, ["time", "kind", "why", "this user before", "peers in training"].map((h) => el("th", {}, h)))),
        el("tbody", {}, alerts.map((a) => { const f = (a.reasons || {}).familiarity;
          return el("tr", { "data-alert-id": a.alert_id },
            el("td", {}, fmtTime(a.time)), el("td", {}, a.kind), el("td", { class: "detail" }, a.summary),
            el("td", { class: "familiar-user" }, userHistory(f)), el("td", { class: "familiar-peers" }, peerHistory(f))); }))));
    $("view").focus();
  }

  // -- user -------------------------------------------------------------------------------------
  function chart(points, threshold) {
    const ns = "http://www.w3.org/2000/svg", w = 640, h = 200, pad = 28;
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("id", "timeline"); svg.setAttribute("viewBox", "0 0 " + w + " " + h);
    svg.setAttribute("role", "img"); svg.setAttribute("aria-label", "risk over time");
    if (!points.length) return svg;
    const t = points.map((p) => Date.parse(p.time)), t0 = Math.min(...t), t1 = Math.max(...t) || t0 + 1;
    const maxR = Math.max(threshold || 0, ...points.map((p) => p.risk), 1e-9);
    const x = (v) => pad + ((w - 2 * pad) * (v - t0)) / Math.max(1, t1 - t0);
    const y = (v) => h - pad - ((h - 2 * pad) * v) / maxR;
    const add = (tag, attrs) => { const e = document.createElementNS(ns, tag);
      for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v); svg.append(e); return e; };
    add("path", { d: points.map((p, i) => (i ? "L" : "M") + x(t[i]).toFixed(1) + "," + y(p.risk).toFixed(1)).join(" "),
                  class: "risk-line" });
    points.forEach((p, i) => add("circle", { cx: x(t[i]).toFixed(1), cy: y(p.risk).toFixed(1), r: 1.8, class: "pt" }));
    if (threshold) add("line", { x1: pad, x2: w - pad, y1: y(threshold), y2: y(threshold), class: "thr" });
    add("text", { x: pad, y: h - 8, class: "axis" }).textContent = fmtTime(points[0].time).slice(0, 16);
    add("text", { x: w - pad, y: h - 8, class: "axis end" }).textContent = fmtTime(points[points.length - 1].time).slice(0, 16);
    add("text", { x: 4, y: pad - 10, class: "axis" }).textContent = "risk (max " + maxR.toFixed(1) + ")";
    return svg;
  }
  async function userView(user) {
    const p = await api("/users/" + encodeURIComponent(user) + "/profile");
    const row = (label, b, n) => el("tr", {}, el("th", {}, label), el("td", { class: "n" }, num(b && b.mean_surprisal, 3)),
      el("td", { class: "n" }, b && b.std !== undefined ? num(b.std, 3) : "–"), el("td", { class: "n" }, n));
    $("view").replaceChildren(
      el("p", {}, el("a", { href: "#/", id: "back" }, "‹ queue")),
      el("h2", {}, "User " + user, " ", el("span", { class: "muted" }, "risk now " + num(p.risk, 2) +
        (p.risk_threshold ? " (threshold " + num(p.risk_threshold, 2) + ")" : ""))),
      el("table", { id: "baseline", class: "grid narrow" },
        el("thead", {}, el("tr", {}, ["", "mean surprisal (nats)", "spread", "activities"].map((h) => el("th", {}, h)))),
        el("tbody", {}, row("this user's baseline", p.user, p.user.reference_activities),
          row("peers' baseline (" + p.peers.users + " users)", p.peers, "–"),
          row("latest day" + (p.today ? " (" + fmtTime(new Date(p.today.day_start_us / 1000).toISOString()).slice(0, 10) + ")" : ""),
            p.today, p.today ? p.today.activities : 0))),
      el("h3", {}, "Risk over time"), chart(p.timeline, p.risk_threshold),
      el("h3", {}, "Incidents (" + p.incidents_total + ")"),
      el("ul", { id: "user-incidents" }, p.incidents.map((inc) => el("li", {},
        el("a", { href: "#/incident/" + encodeURIComponent(inc.incident_id) }, fmtTime(inc.start) + " – " + fmtTime(inc.end)),
        " · peak " + num(inc.peak_risk, 2) + " · " + inc.n_activities + " activities · ", el("span", { class: "badge " + inc.status }, inc.status)))));
  }

  // -- routing, keys, live ----------------------------------------------------------------------
  function route() {
    const h = decodeURIComponent(location.hash.slice(1) || "/");
    const fail = (e) => $("view").replaceChildren(el("p", { class: "error" }, String(e)));
    if (h.startsWith("/incident/")) incidentView(h.slice(10)).catch(fail);
    else if (h.startsWith("/user/")) userView(h.slice(6)).catch(fail);
    else { state.current = null; queueView(); }
  }
  document.addEventListener("keydown", (e) => {
    const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement.tagName);
    if (e.key === "Escape") { if (typing) document.activeElement.blur(); else location.hash = "#/"; return; }
    if (typing || e.ctrlKey || e.metaKey || e.altKey) return;
    if ($("incidents")) {
      if (e.key === "j") select(state.selected + 1);
      else if (e.key === "k") select(state.selected - 1);
      else if (e.key === "Enter" && state.rows[state.selected]) openIncident(state.rows[state.selected].incident_id);
      else if (e.key === "/") { e.preventDefault(); $("f-user").focus(); }
    } else if (state.current) {
      const b = { c: "confirm", d: "dismiss", o: "reopen" }[e.key];
      if (b) $(b).click();
    }
  });
  let pending = null;
  function onAlert() {
    if (pending) return;
    pending = setTimeout(() => { pending = null; refreshCounts(); if ($("incidents")) loadQueue(); }, 500);
  }
  function connect() {
    const es = new EventSource("/alerts/stream?token=" + encodeURIComponent(token));
    es.addEventListener("open", () => { $("live").textContent = "live"; $("live").className = "pill on"; });
    es.addEventListener("alert", onAlert);
    es.addEventListener("error", () => { $("live").textContent = "reconnecting…"; $("live").className = "pill off"; });
  }
  window.addEventListener("hashchange", route);
  document.addEventListener("DOMContentLoaded", () => { route(); refreshCounts(); connect(); setInterval(refreshCounts, 5000); });
})();
