// neighborwatch dashboard: alert queue with reasons and status actions, per-user timeline, live SSE.
// Plain JS, no external assets. The token comes from ?token= and is sent as a Bearer header.
(function () {
  "use strict";
  const params = new URLSearchParams(location.search);
  const token = params.get("token") || sessionStorage.getItem("nw-token") || "";
  if (token) sessionStorage.setItem("nw-token", token);
  const H = { Authorization: "Bearer " + token };
  const $ = (id) => document.getElementById(id);
  const state = { alerts: new Map(), filter: "open", user: null, riskThreshold: null };

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const k of kids) if (k !== null && k !== undefined) e.append(k.nodeType ? k : String(k));
    return e;
  }
  async function api(path, opts) {
    const r = await fetch(path, Object.assign({ headers: Object.assign({ "Content-Type": "application/json" }, H) }, opts || {}));
    if (!r.ok) throw new Error(path + " → " + r.status);
    return r.headers.get("content-type").includes("json") ? r.json() : r.text();
  }
  const pct = (p) => (100 * p).toFixed(p < 0.01 ? 2 : 1) + "%";
  const act = (r) => r.activity + (r.hour === null || r.hour === undefined ? "" : " @" + r.hour + "h");

  function sparkline(points) {
    const w = 120, h = 24, ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("width", w); svg.setAttribute("height", h); svg.setAttribute("class", "spark");
    if (!points.length) return svg;
    const max = Math.max(...points.map((p) => p.risk), 1e-9);
    const d = points.map((p, i) => (i ? "L" : "M") + (points.length === 1 ? w : (i * w) / (points.length - 1)).toFixed(1) +
      "," + (h - 2 - ((h - 4) * p.risk) / max).toFixed(1)).join(" ");
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", d); path.setAttribute("fill", "none"); path.setAttribute("stroke", "#c62828"); path.setAttribute("stroke-width", "1.5");
    svg.append(path);
    return svg;
  }

  function reasonsView(a) {
    const r = a.reasons || {};
    const exp = el("table", {});
    const obs = r.observed || {};
    exp.append(el("tr", { class: "observed" }, el("td", {}, "observed: " + act(obs)),
      el("td", {}, el("span", { class: "bar obs", style: "width:" + Math.max(2, 80 * (obs.probability || 0)) + "px" }), " ", pct(obs.probability || 0))));
    for (const e of r.expected || []) {
      exp.append(el("tr", {}, el("td", {}, act(e)),
        el("td", {}, el("span", { class: "bar", style: "width:" + Math.max(2, 80 * e.probability) + "px" }), " ", pct(e.probability))));
    }
    const nb = el("table", {});
    for (const n of r.neighbours || []) {
      nb.append(el("tr", {}, el("td", {}, n.user ? n.user + " / " + (n.host || "?") : "pool #" + n.pool_id),
        el("td", {}, (n.activities || (n.length + " activities")) + ""), el("td", {}, "sim " + (n.similarity ?? "").toString())));
    }
    if (!(r.neighbours || []).length) nb.append(el("tr", {}, el("td", {}, "—")));
    const raw = el("div", { class: "raw" }, (r.events || []).map((e) => JSON.stringify(e)).join("\n"));
    return el("div", { class: "reasons" },
      el("div", {}, el("h3", {}, "observed vs expected next activity"), exp),
      el("div", {}, el("h3", {}, "nearest normal sessions (pool)"), nb,
        el("h3", {}, "risk trend"), sparkline(r.risk_trend || [])),
      el("div", { class: "raw-wrap", style: "grid-column: 1 / span 2" }, el("h3", {}, "raw events (triggering last)"), raw));
  }

  function alertView(a) {
    const li = el("li", { class: "alert kind-" + a.kind + " status-" + a.status, "data-alert-id": a.alert_id, "data-status": a.status });
    const setStatus = (s) => async (ev) => {
      ev.stopPropagation();
      const upd = await api("/alerts/" + encodeURIComponent(a.alert_id) + "/status", { method: "POST", body: JSON.stringify({ status: s }) });
      state.alerts.set(a.alert_id, Object.assign(a, upd));
      render();
    };
    const actions = el("span", { class: "actions" },
      a.status !== "confirmed" ? el("button", { class: "confirm", onclick: setStatus("confirmed") }, "Confirm") : null,
      a.status !== "dismissed" ? el("button", { class: "dismiss", onclick: setStatus("dismissed") }, "Dismiss") : null,
      a.status !== "open" ? el("button", { class: "reopen", onclick: setStatus("open") }, "Reopen") : null);
    li.append(
      el("div", { class: "top" },
        el("span", {}, el("span", { class: "badge " + a.kind }, a.kind), a.status !== "open" ? el("span", { class: "badge st" }, a.status) : null,
          el("span", { class: "user-link", onclick: () => selectUser(a.user) }, a.user), " on ", a.host, " · ", a.time.replace("T", " ")),
        actions),
      el("div", { class: "summary" }, a.summary, " · score ", a.score.toFixed(4), " · risk ", a.risk.toFixed(3)),
      el("details", {}, el("summary", {}, "reasons"), reasonsView(a)));
    return li;
  }

  function render() {
    const list = $("alerts");
    const shown = [...state.alerts.values()].filter((a) => !state.filter || a.status === state.filter)
      .sort((x, y) => (y.time_us - x.time_us) || (x.alert_id < y.alert_id ? 1 : -1)).slice(0, 200);
    list.replaceChildren(...shown.map(alertView));
    $("empty").style.display = shown.length ? "none" : "block";
    const all = [...state.alerts.values()];
    $("n-alerts").textContent = all.length;
    $("n-open").textContent = all.filter((a) => a.status === "open").length;
  }

  async function loadAlerts() {
    const r = await api("/alerts?limit=500");
    for (const a of r.alerts) state.alerts.set(a.alert_id, a);
    render();
  }

  async function loadUsers() {
    const r = await api("/users?limit=12");
    const body = $("users").querySelector("tbody");
    body.replaceChildren(...r.users.map((u) => el("tr", { onclick: () => selectUser(u.user), "data-user": u.user },
      el("td", {}, u.user), el("td", {}, u.risk.toFixed(3)), el("td", {}, u.events), el("td", {}, u.alerts))));
  }

  async function loadMetrics() {
    const text = await api("/metrics");
    let n = 0;
    for (const line of text.split("\n")) if (line.startsWith("neighborwatch_events_total")) n += Number(line.split(" ").pop());
    $("n-events").textContent = n;
  }

  function drawTimeline(points) {
    const svg = $("timeline"), ns = "http://www.w3.org/2000/svg", W = 640, Hh = 240, pad = 28;
    svg.replaceChildren();
    const add = (tag, attrs) => { const e = document.createElementNS(ns, tag); for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v); svg.append(e); return e; };
    if (!points.length) return;
    const ts = points.map((p) => Date.parse(p.time));
    const t0 = Math.min(...ts), t1 = Math.max(...ts, t0 + 1);
    const maxRisk = Math.max(...points.map((p) => p.risk), state.riskThreshold || 0, 1e-9);
    const x = (t) => pad + ((W - 2 * pad) * (t - t0)) / (t1 - t0);
    const yS = (s) => Hh - pad - (Hh - 2 * pad) * s;
    const yR = (r) => Hh - pad - ((Hh - 2 * pad) * r) / maxRisk;
    add("line", { x1: pad, y1: Hh - pad, x2: W - pad, y2: Hh - pad, stroke: "#bbb" });
    add("text", { x: 4, y: pad - 8, "font-size": 10, fill: "#888" }).textContent = "score 1 / risk " + maxRisk.toFixed(2);
    add("text", { x: pad, y: Hh - 8, "font-size": 10, fill: "#888" }).textContent = new Date(t0).toISOString().slice(0, 16).replace("T", " ");
    add("text", { x: W - pad - 90, y: Hh - 8, "font-size": 10, fill: "#888" }).textContent = new Date(t1).toISOString().slice(0, 16).replace("T", " ");
    points.forEach((p, i) => { if (p.score !== null) add("circle", { cx: x(ts[i]), cy: yS(p.score), r: 2.2, fill: "#f0a020", "fill-opacity": 0.8 }); });
    add("path", { d: points.map((p, i) => (i ? "L" : "M") + x(ts[i]).toFixed(1) + "," + yR(p.risk).toFixed(1)).join(" "), fill: "none", stroke: "#c62828", "stroke-width": 1.6, class: "risk-line" });
    if (state.riskThreshold) add("line", { x1: pad, x2: W - pad, y1: yR(state.riskThreshold), y2: yR(state.riskThreshold), stroke: "#888", "stroke-dasharray": "4 3" });
  }

  // bursts of alerts (a replay) must not re-render or refetch once per alert: coalesce
  let renderTimer = null, userTimer = null;
  function scheduleRender() { if (!renderTimer) renderTimer = setTimeout(() => { renderTimer = null; render(); }, 150); }
  function scheduleUser(user) {
    if (state.user && state.user !== user) return;
    state.user = user;
    if (!userTimer) userTimer = setTimeout(() => { userTimer = null; selectUser(state.user); }, 300);
  }

  async function selectUser(user) {
    state.user = user;
    $("user-name").textContent = "— " + user;
    try { const u = await api("/users/" + encodeURIComponent(user) + "?points=500"); drawTimeline(u.timeline); } catch (e) { drawTimeline([]); }
  }

  function connect() {
    const es = new EventSource("/alerts/stream?token=" + encodeURIComponent(token));
    es.onopen = () => { $("live").textContent = "live"; $("live").className = "pill on"; };
    es.onerror = () => { $("live").textContent = "reconnecting…"; $("live").className = "pill off"; };
    es.addEventListener("alert", (ev) => {
      const a = JSON.parse(ev.data);
      if (!state.alerts.has(a.alert_id)) state.alerts.set(a.alert_id, a);
      scheduleRender();
      scheduleUser(a.user);
    });
  }

  $("status-filter").addEventListener("change", (e) => { state.filter = e.target.value; render(); });
  (async function init() {
    try { const t = await api("/thresholds"); state.riskThreshold = t.risk; } catch (e) { /* shown as no threshold line */ }
    await loadAlerts().catch(() => {});
    connect();
    const tick = () => { loadUsers().catch(() => {}); loadMetrics().catch(() => {}); if (state.user) selectUser(state.user); };
    tick();
    setInterval(tick, 3000);
  })();
})();
