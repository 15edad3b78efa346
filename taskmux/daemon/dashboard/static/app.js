// The taskmux dashboard: one WebSocket to the daemon (the API's protocol, with the
// session cookie in place of the token), the event stream for live updates, and SVG
// for the pictures. No framework, no build step. Text from tasks (names, log lines,
// event details) only ever goes into the page as text, never as markup.
"use strict";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
const HOUR = 3600;
const START = new Set(["started", "restarted"]);
const END = new Set(["exited", "stopped", "killed", "start_failed", "gave_up"]);
// An end that is not a failure: a stop by hand, a kill by hand, a one-shot that completed.
const calm = (e) => e.event === "stopped" || e.event === "killed" || (e.event === "exited" && e.exit_code === 0 && e.signal == null);
const MAX_LOG = 2000;
const MAX_FEED = 200;

const state = { tasks: [], events: [], seen: new Set(), rows: new Map(), shown: false };
const log = { gen: 0, stamp: null, same: 0, busy: false, loaded: false };
let ws = null;
let nextId = 1;
let retries = 0;
const pending = new Map();

// Connection -------------------------------------------------------------------------

function connect() {
  ws = new WebSocket(`ws://${location.host}/ws`);
  ws.onopen = () => {
    retries = 0;
    setConnected(true);
    send("subscribe");
    refresh();
    send("events", { since: "1h", lines: 5000 }).then((r) => {
      if (r.ok) r.result.events.forEach(addEvent);
      renderTasks(); // the last exits of running tasks come from the events
      drawTimeline();
    });
    if (state.tasks.length) loadLog(true);
  };
  ws.onmessage = (message) => {
    const data = JSON.parse(message.data);
    if (data.event) return onEvent(data.event);
    const resolve = pending.get(data.id);
    pending.delete(data.id);
    if (resolve) resolve(data);
  };
  ws.onclose = () => {
    setConnected(false);
    for (const resolve of pending.values()) resolve({ ok: false, error: { message: "connection lost" } });
    pending.clear();
    retries += 1;
    setTimeout(() => loggedIn().then((yes) => (yes ? connect() : loggedOut())), Math.min(5000, 250 * retries));
  };
}

function send(command, params = {}) {
  return new Promise((resolve) => {
    if (!ws || ws.readyState !== WebSocket.OPEN) return resolve({ ok: false, error: { message: "not connected" } });
    const id = nextId++;
    pending.set(id, resolve);
    ws.send(JSON.stringify({ id, command, params }));
  });
}

async function loggedIn() {
  try {
    return (await fetch("/app.css", { cache: "no-store" })).status !== 401;
  } catch {
    return true; // the daemon is down: keep trying
  }
}

function loggedOut() {
  notice("Logged out (the daemon restarted, or the session ended): run `taskmux ui` for a new link.", true);
}

function setConnected(on) {
  $("conn").textContent = on ? "live" : "reconnecting…";
  $("conn").className = on ? "conn on" : "conn";
}

function notice(text, bad = false) {
  const el = $("notice");
  el.textContent = text;
  el.className = bad ? "bad" : "";
  el.hidden = !text;
}

// Status -----------------------------------------------------------------------------

let refreshTimer = null;
function refreshSoon() {
  if (!refreshTimer) refreshTimer = setTimeout(() => { refreshTimer = null; refresh(); }, 30);
}

async function refresh() {
  const reply = await send("status");
  if (!reply.ok) return;
  state.tasks = reply.result.tasks;
  $("session").textContent = reply.result.session;
  renderTasks();
  drawGraph();
  drawTimeline();
  fillTaskSelect();
  if (!state.shown) {
    state.shown = true;
    performance.mark("tasks-shown");
    document.body.dataset.ready = "1";
  }
}

function tone(row) {
  const s = row.state || "";
  if (row.running) {
    if (s === "unhealthy" || row.healthy === false) return "bad";
    return s === "starting" ? "wait" : "ok";
  }
  if (["not started", "stopped", "completed", "killed"].includes(s)) return "off";
  return s === "daemonized" ? "wait" : "bad";
}

function ago(ts) {
  return ts ? `${duration(Date.now() / 1000 - ts)} ago` : "";
}

function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

function lastExit(row) {
  if (!row.running && (row.exit_code != null || row.signal)) {
    const how = row.signal ? `killed by ${row.signal}` : `exit ${row.exit_code}`;
    return `${how} ${ago(row.exited_at)}`;
  }
  const exit = state.events.findLast((e) => e.task === row.name && e.event === "exited");
  return exit ? `${exit.description || "exited"} ${ago(exit.ts)}` : "";
}

function health(row) {
  let text = "";
  if (row.healthy === true) text = "healthy";
  else if (row.healthy === false) text = "unhealthy";
  else if (row.health_failures) text = `failing (${row.health_failures})`;
  else if (row.health_check && row.running) text = "checking";
  return row.probe_reason ? `${text} · ${row.probe_reason}` : text;
}

function cell(tr, name, text, title) {
  const td = tr.querySelector(`td.${name}`);
  if (td.textContent !== text) td.textContent = text;
  if (title !== undefined) td.title = title;
  return td;
}

function makeRow(name) {
  const tr = document.createElement("tr");
  tr.dataset.task = name;
  for (const c of ["name", "state", "health", "pid", "port", "uptime", "restarts", "exit", "act"]) {
    const td = document.createElement("td");
    td.className = c;
    tr.append(td);
  }
  tr.querySelector("td.name").textContent = name;
  for (const act of ["start", "stop", "restart"]) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = act;
    button.dataset.act = act;
    button.dataset.task = name;
    tr.querySelector("td.act").append(button);
  }
  tr.querySelector("td.name").addEventListener("click", () => showLog(name));
  return tr;
}

function renderTasks() {
  const body = $("tasks").tBodies[0];
  const names = new Set(state.tasks.map((r) => r.name));
  for (const [name, tr] of state.rows) if (!names.has(name)) { tr.remove(); state.rows.delete(name); }
  state.tasks.forEach((row, index) => {
    let tr = state.rows.get(row.name);
    if (!tr) { tr = makeRow(row.name); state.rows.set(row.name, tr); }
    if (body.rows[index] !== tr) body.insertBefore(tr, body.rows[index] || null);
    tr.className = tone(row);
    cell(tr, "state", row.state || "", row.command || "");
    cell(tr, "health", health(row));
    cell(tr, "pid", row.pid == null ? "" : String(row.pid));
    portCell(tr.querySelector("td.port"), row);
    cell(tr, "restarts", String(row.restart_count || 0));
    cell(tr, "exit", lastExit(row));
  });
  tickUptimes();
}

function portCell(td, row) {
  const key = `${row.port}|${row.running}|${row.url}`;
  if (td.dataset.key === key) return;
  td.dataset.key = key;
  td.textContent = "";
  if (row.port == null) return;
  if (!row.running) { td.textContent = String(row.port); return; }
  const a = document.createElement("a");
  a.href = row.url || `http://127.0.0.1:${row.port}/`;  // its named URL when the proxy is on
  a.target = "_blank";
  a.rel = "noopener noreferrer";
  a.textContent = String(row.port);
  if (row.url) a.title = row.url;
  td.append(a);
}

function tickUptimes() {
  for (const row of state.tasks) {
    const tr = state.rows.get(row.name);
    if (tr) cell(tr, "uptime", row.running && row.started_at ? duration(Date.now() / 1000 - row.started_at) : "");
  }
}

// Events -----------------------------------------------------------------------------

const eventKey = (e) => `${e.ts}|${e.event}|${e.task}`;

function addEvent(e) {
  if (state.seen.has(eventKey(e))) return false; // pushed while the history was read
  state.seen.add(eventKey(e));
  state.events.push(e);
  const cutoff = Date.now() / 1000 - HOUR;
  while (state.events.length && state.events[0].ts < cutoff) state.seen.delete(eventKey(state.events.shift()));
  feed(e);
  return true;
}

function onEvent(e) {
  if (!addEvent(e)) return;
  const tr = e.task && state.rows.get(e.task);
  if (tr && END.has(e.event)) { // at once, before the status that confirms it
    tr.className = calm(e) ? "off" : "bad";
    cell(tr, "state", e.description || e.event);
  }
  drawTimeline();
  refreshSoon();
}

function detail(e) {
  for (const k of ["description", "reason", "error", "output"]) if (e[k]) return String(e[k]).slice(0, 300);
  if (e.port) return `port ${e.port}`;
  return "";
}

function clock(ts) {
  return new Date(ts * 1000).toLocaleTimeString([], { hour12: false });
}

function feed(e) {
  const li = document.createElement("li");
  li.className = END.has(e.event) && !calm(e) ? "bad" : e.event.startsWith("health") ? "wait" : "";
  for (const [cls, text] of [["time", clock(e.ts)], ["task", e.task || "·"], ["event", e.event], ["detail", detail(e)]]) {
    const span = document.createElement("span");
    span.className = cls;
    span.textContent = text;
    li.append(span);
  }
  const list = $("events");
  list.insertBefore(li, list.firstChild); // newest first
  while (list.children.length > MAX_FEED) list.lastChild.remove();
}

// Pictures ---------------------------------------------------------------------------

function el(name, attrs, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

// A dependency: a task name, or {task, condition} where conditions are declared.
const needs = (row) => (row.depends_on || []).map((d) => (typeof d === "string" ? d : d.task));

function depths(rows) {
  const byName = new Map(rows.map((r) => [r.name, r]));
  const memo = new Map();
  const depth = (name, trail) => {
    if (memo.has(name)) return memo.get(name);
    if (trail.has(name) || !byName.has(name)) return 0; // a cycle, or an unknown name
    trail.add(name);
    const deps = needs(byName.get(name));
    const d = deps.length ? 1 + Math.max(...deps.map((n) => depth(n, trail))) : 0;
    trail.delete(name);
    memo.set(name, d);
    return d;
  };
  rows.forEach((r) => depth(r.name, new Set()));
  return memo;
}

function drawGraph() {
  const svg = $("graph");
  const rows = state.tasks.filter((r) => r.in_config !== false);
  const layers = depths(rows);
  const count = [];
  const pos = new Map();
  const W = 130, H = 28, DX = 170, DY = 42;
  for (const r of rows) {
    const d = layers.get(r.name) || 0;
    count[d] = (count[d] || 0) + 1;
    pos.set(r.name, { x: 10 + d * DX, y: 10 + (count[d] - 1) * DY, row: r });
  }
  const width = 20 + Math.max(0, count.length - 1) * DX + W;
  const height = 20 + Math.max(1, ...count.filter(Boolean)) * DY - (DY - H);
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  const defs = el("defs", {});
  const marker = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "10", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto" });
  marker.append(el("path", { d: "M0,0 L10,5 L0,10 z", class: "arrowhead" }));
  defs.append(marker);
  svg.append(defs);
  for (const { x, y, row } of pos.values()) {
    for (const dep of needs(row)) {
      const from = pos.get(dep);
      if (!from) continue;
      const x1 = from.x + W, y1 = from.y + H / 2, x2 = x, y2 = y + H / 2, mx = (x1 + x2) / 2;
      svg.append(el("path", { d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`, class: "edge", "marker-end": "url(#arrow)" }));
    }
  }
  for (const { x, y, row } of pos.values()) {
    const g = el("g", { class: `node ${tone(row)}`, "data-task": row.name });
    g.append(el("title", {}, `${row.name}: ${row.state}`));
    g.append(el("rect", { x, y, width: W, height: H, rx: 6 }));
    g.append(el("text", { x: x + W / 2, y: y + H / 2 + 4, "text-anchor": "middle" }, row.name));
    g.addEventListener("click", () => showLog(row.name));
    svg.append(g);
  }
}

function drawTimeline() {
  const svg = $("timeline");
  const rows = state.tasks;
  // The last hour, or less when the history is shorter: the strips use the whole width.
  const now = Date.now() / 1000;
  const first = [...state.events.map((e) => e.ts), ...rows.map((r) => (r.running && r.started_at) || now)]
    .reduce((a, b) => Math.min(a, b), now);
  const span = Math.min(HOUR, Math.max(20, (now - first) * 1.05));
  const from = now - span;
  const width = Math.max(320, svg.parentElement.clientWidth - 24), label = 100, RH = 22;
  const x = (t) => label + ((Math.max(t, from) - from) / span) * (width - label - 8);
  const height = 22 + rows.length * RH;
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  for (let i = 4; i >= 0; i--) {
    const back = (span * i) / 4, tx = x(now - back);
    const text = i ? `-${back >= 120 ? `${Math.round(back / 60)}m` : `${Math.round(back)}s`}` : "now";
    svg.append(el("line", { x1: tx, x2: tx, y1: 0, y2: height - 16, class: "grid" }));
    svg.append(el("text", { x: tx, y: height - 4, "text-anchor": i ? "middle" : "end", class: "axis" }, text));
  }
  rows.forEach((row, i) => {
    const y = 4 + i * RH;
    svg.append(el("text", { x: 0, y: y + 13, class: "label" }, row.name));
    const evs = state.events.filter((e) => e.task === row.name);
    let up = null;
    const bar = (a, b) => b > from && svg.append(el("rect", { x: x(a), y: y + 3, width: Math.max(1, x(b) - x(a)), height: RH - 8, class: "up" }));
    for (const e of evs) {
      if (START.has(e.event)) up = up ?? e.ts;
      else if (END.has(e.event)) { bar(up ?? from, e.ts); up = null; }
    }
    if (row.running) bar(up ?? Math.max(from, row.started_at || from), now);
    for (const e of evs) {
      if (e.ts < from) continue;
      const kind = END.has(e.event) ? (calm(e) ? "stop" : "exit") : START.has(e.event) ? "start"
        : e.event === "health_failed" ? "sick" : e.event === "health_recovered" ? "well" : null;
      if (!kind) continue;
      const mark = el("rect", { x: x(e.ts) - 1.5, y: y + 1, width: 3, height: RH - 4, class: `mark ${kind}` });
      mark.append(el("title", {}, `${clock(e.ts)} ${e.event} ${detail(e)}`));
      svg.append(mark);
    }
  });
}

// Logs -------------------------------------------------------------------------------

function fillTaskSelect() {
  const select = $("logtask");
  const names = ["", ...state.tasks.map((r) => r.name)];
  if ([...select.options].map((o) => o.value).join("\n") === names.join("\n")) return;
  const current = select.value || names[1] || "";
  select.replaceChildren(...names.map((n) => new Option(n || "(all tasks)", n)));
  select.value = names.includes(current) ? current : "";
  loadLog(true);
}

function showLog(name) {
  $("logtask").value = name;
  loadLog(true);
  $("log").scrollIntoView({ block: "nearest" });
}

// Follow by polling `logs` with `since` (the last stamp shown) every second: what the
// declaration tells API clients to do, it needs no second stream in the daemon, and it
// ends by itself with the tab. Lines of that same stamp already shown are skipped.
async function loadLog(reset) {
  if (reset) Object.assign(log, { gen: log.gen + 1, stamp: null, same: 0, busy: false, loaded: false });
  else if (log.busy || !log.loaded) return;
  const task = $("logtask").value, filter = $("filter").value, gen = log.gen;
  const params = { lines: 500, ansi: true };
  if (task) params.task = task;
  if (filter) Object.assign(params, { grep: filter, context: 0 });
  if (log.stamp) params.since = log.stamp;
  log.busy = true;
  const reply = await send("logs", params);
  if (gen !== log.gen) return; // another task or filter was chosen meanwhile
  Object.assign(log, { busy: false, loaded: true });
  const pre = $("log");
  $("logerror").textContent = reply.ok ? "" : reply.error.message;
  if (!reply.ok) return void (log.loaded = false); // a bad regex: no polling until changed
  if (reset) pre.replaceChildren();
  const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
  let skip = log.same;
  const startStamp = log.stamp;
  for (const line of reply.result.lines) {
    if (!reset && line.ts === startStamp && skip-- > 0) continue;
    if (line.ts === log.stamp) log.same += 1;
    else Object.assign(log, { stamp: line.ts, same: 1 });
    pre.append(logLine(line, !task));
  }
  while (pre.childElementCount > MAX_LOG) pre.firstChild.remove();
  if (reset || atBottom) pre.scrollTop = pre.scrollHeight;
}

function logLine(line, withTask) {
  const div = document.createElement("div");
  const ts = document.createElement("span");
  ts.className = "ts";
  ts.textContent = `${line.ts.slice(11, 19)} ${withTask ? line.task + " " : ""}`;
  div.append(ts, ansi(line.line));
  return div;
}

// ANSI colours (SGR) to spans: 16 colours as classes, 256 and RGB as inline colours.
const SGR_RE = /\x1b\[([0-9;:]*)m/g;

function ansi(text) {
  const frag = document.createDocumentFragment();
  let style = {}, last = 0, m;
  SGR_RE.lastIndex = 0;
  while ((m = SGR_RE.exec(text))) {
    span(frag, text.slice(last, m.index), style);
    style = sgr(style, m[1]);
    last = SGR_RE.lastIndex;
  }
  span(frag, text.slice(last), style);
  return frag;
}

function sgr(old, params) {
  const codes = params === "" ? [0] : params.split(/[;:]/).map(Number);
  let s = { ...old };
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i];
    if (c === 0) s = {};
    else if (c === 1) s.bold = true;
    else if (c === 2) s.dim = true;
    else if (c === 3) s.italic = true;
    else if (c === 4) s.underline = true;
    else if (c === 22) { delete s.bold; delete s.dim; }
    else if (c === 23) delete s.italic;
    else if (c === 24) delete s.underline;
    else if (c >= 30 && c <= 37) s.fg = c - 30;
    else if (c >= 90 && c <= 97) s.fg = c - 82;
    else if (c === 39) delete s.fg;
    else if (c >= 40 && c <= 47) s.bg = c - 40;
    else if (c >= 100 && c <= 107) s.bg = c - 92;
    else if (c === 49) delete s.bg;
    else if ((c === 38 || c === 48) && codes[i + 1] === 5) { s[c === 38 ? "fg" : "bg"] = codes[i + 2]; i += 2; }
    else if ((c === 38 || c === 48) && codes[i + 1] === 2) { s[c === 38 ? "fg" : "bg"] = codes.slice(i + 2, i + 5); i += 4; }
  }
  return s;
}

function colour(value) {
  if (Array.isArray(value)) return `rgb(${value.map((v) => v || 0).join(",")})`;
  if (value < 232) {
    const v = [0, 95, 135, 175, 215, 255], n = value - 16;
    return `rgb(${v[Math.floor(n / 36) % 6]},${v[Math.floor(n / 6) % 6]},${v[n % 6]})`;
  }
  const g = 8 + (value - 232) * 10;
  return `rgb(${g},${g},${g})`;
}

function span(frag, text, s) {
  if (!text) return;
  if (!Object.keys(s).length) return frag.append(text);
  const node = document.createElement("span");
  node.textContent = text;
  for (const k of ["bold", "dim", "italic", "underline"]) if (s[k]) node.classList.add(k);
  for (const [k, prop] of [["fg", "color"], ["bg", "backgroundColor"]]) {
    if (s[k] === undefined) continue;
    if (typeof s[k] === "number" && s[k] < 16) node.classList.add(`${k}${s[k]}`);
    else node.style[prop] = colour(s[k]);
  }
  frag.append(node);
}

// Actions ----------------------------------------------------------------------------

async function act(command, tasks, button) {
  const what = tasks ? tasks.join(", ") : "all tasks";
  if (command === "stop" && !tasks && !confirm("Stop every task and end the session?")) return;
  button.disabled = true;
  notice(`${command} ${what}…`);
  const reply = await send(command, tasks ? { tasks } : {});
  button.disabled = false;
  notice(reply.ok ? `${command} ${what}: done` : `${command} ${what} failed: ${reply.error.message}`, !reply.ok);
  refreshSoon();
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button");
  if (!button) return;
  if (button.dataset.act) act(button.dataset.act, [button.dataset.task], button);
  else if (button.dataset.all) act(button.dataset.all, null, button);
});

let filterTimer = null;
$("filter").addEventListener("input", () => {
  clearTimeout(filterTimer);
  filterTimer = setTimeout(() => loadLog(true), 250);
});
$("logtask").addEventListener("change", () => loadLog(true));
$("follow").addEventListener("change", () => $("follow").checked && loadLog(false));

setInterval(() => {
  tickUptimes();
  if ($("follow").checked) loadLog(false);
}, 1000);
setInterval(() => { refresh(); drawTimeline(); }, 5000);
connect();
