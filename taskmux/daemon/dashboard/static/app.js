// The taskmux dashboard: one WebSocket to the daemon (the API's protocol, with the
// session cookie in place of the token), the event stream for live updates, SVG for the
// pictures (pictures.js) and the log (logview.js). No framework, no build step. Text
// from tasks (names, log lines, event details) only ever goes into the page as text,
// never as markup. The daemon answers each request when it is done, so a slow log read
// never holds up a button.
"use strict";

const $ = (id) => document.getElementById(id);
const MAX_FEED = 200;
const SESSION_ENDED = 4001;

const state = {
  tasks: [], seen: new Set(), rows: new Map(), shown: false, usage: new Map(),
  groups: {}, sort: "order", down: false, selected: null, lastExit: new Map(), seenAt: 0,
};
const timeline = new Timeline($("timeline"));
let ws = null;
let nextId = 1;
let retries = 0;
const pending = new Map();

// Connection -------------------------------------------------------------------------

function connect() {
  ws = new WebSocket(`ws://${location.host}/ws`);
  ws.onopen = () => {
    retries = 0;
    setDown(false);
    send("subscribe");
    refresh();
    send("events", { since: "1h", lines: 5000 }).then((r) => {
      if (r.ok) r.result.events.forEach(addEvent);
      renderTasks(); // the last exits of running tasks come from the events
    });
    send("config_view").then((r) => {
      if (!r.ok) return;
      state.groups = r.result.config.groups || {};
      $("config").textContent = JSON.stringify(r.result.config, null, 2);
      $("configpath").textContent = r.result.path;
      fillTaskSelect();
    });
    usage();
    if (state.tasks.length) loadLog(true);
  };
  ws.onmessage = (message) => {
    const data = JSON.parse(message.data);
    if (data.event) return onEvent(data.event);
    const resolve = pending.get(data.id);
    pending.delete(data.id);
    if (resolve) resolve(data);
  };
  ws.onclose = (event) => {
    for (const resolve of pending.values()) resolve({ ok: false, error: { message: "the daemon went away" } });
    pending.clear();
    if (event.code === SESSION_ENDED) return loggedOut(event.reason);
    setDown(true);
    retries += 1;
    setTimeout(() => loggedIn().then((yes) => (yes === false ? loggedOut() : connect())), Math.min(2000, 250 * retries));
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

// true: logged in; false: the daemon says no session; null: no daemon to ask.
async function loggedIn() {
  try {
    return (await fetch("/app.css", { cache: "no-store" })).status !== 401;
  } catch {
    return null;
  }
}

function loggedOut(reason = "") {
  setDown(true, "logged out");
  const why = reason === "logged out" ? "You logged out" : "This session has ended (it expired, or was logged out)";
  notice(`${why}: run \`taskmux ui\` for a new login link.`, true);
}

// A stopped daemon: say so, grey everything out, and keep trying to reconnect.
function setDown(down, text = "daemon stopped — reconnecting…") {
  state.down = down;
  document.body.classList.toggle("down", down);
  $("conn").textContent = down ? text : "live";
  $("conn").className = down ? "conn down" : "conn on";
  for (const button of document.querySelectorAll("button[data-act], button[data-all]")) button.disabled = down;
  if (!down) renderTasks();
}

function notice(text, bad = false) {
  const el = $("notice");
  el.textContent = text;
  el.className = bad ? "bad" : "";
  el.hidden = !text;
}

// Status -----------------------------------------------------------------------------

let refreshTimer = null;
let lastRefresh = 0;
function refreshSoon() { // at most one status read per 400 ms, however many events come
  if (refreshTimer) return;
  const wait = Math.max(30, lastRefresh + 400 - performance.now());
  refreshTimer = setTimeout(() => { refreshTimer = null; refresh(); }, wait);
}

async function refresh() {
  lastRefresh = performance.now();
  const reply = await send("status");
  if (!reply.ok) return;
  state.tasks = reply.result.tasks;
  state.seenAt = performance.now();  // rows' `uptime` is as of now (taskmux's clock, not ours)
  $("session").textContent = reply.result.session;
  renderTasks();
  drawGraph($("graph"), state.tasks, tone, showLog);
  timeline.setRows(state.tasks);
  fillTaskSelect();
  if (!state.shown) {
    state.shown = true;
    performance.mark("tasks-shown");
    document.body.dataset.ready = "1";
  }
}

async function usage() {
  const reply = await send("usage");
  if (!reply.ok) return;
  state.usage = new Map(reply.result.tasks.map((u) => [u.task, u]));
  for (const row of state.tasks) {
    const tr = state.rows.get(row.name);
    const u = state.usage.get(row.name);
    if (!tr) continue;
    cell(tr, "cpu", u ? `${u.cpu_percent.toFixed(1)}%` : "");
    cell(tr, "mem", u ? bytes(u.memory_bytes) : "", u ? `${u.processes} process(es)` : "");
  }
  if (state.sort === "cpu" || state.sort === "mem") renderTasks();
}

function bytes(n) {
  if (n < 1024 * 1024) return `${Math.round(n / 1024)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
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
  const exit = state.lastExit.get(row.name);
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
  if (title !== undefined && td.title !== title) td.title = title;
  return td;
}

const COLUMNS = ["name", "state", "health", "cpu", "mem", "pid", "port", "uptime", "restarts", "exit", "act"];

function makeRow(name) {
  const tr = document.createElement("tr");
  tr.dataset.task = name;
  tr.tabIndex = 0;
  for (const c of COLUMNS) {
    const td = document.createElement("td");
    td.className = c;
    tr.append(td);
  }
  const label = document.createElement("span");
  label.className = "nm";
  label.textContent = name;
  label.title = name;
  const url = document.createElement("a");
  url.className = "url";
  url.target = "_blank";
  url.rel = "noopener noreferrer";
  tr.querySelector("td.name").append(label, url);
  const buttons = document.createElement("span");
  buttons.className = "btns";
  for (const act of ["start", "stop", "restart"]) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = act;
    button.dataset.act = act;
    button.dataset.task = name;
    buttons.append(button);
  }
  const menu = document.createElement("button");
  menu.type = "button";
  menu.className = "menu";
  menu.textContent = "⋯";
  menu.title = "actions";
  menu.setAttribute("aria-label", `actions for ${name}`);
  menu.addEventListener("click", () => tr.classList.toggle("open"));
  tr.querySelector("td.act").append(menu, buttons);
  label.addEventListener("click", () => showLog(name));
  return tr;
}

// Which rows show, in which order: the table's filter (a name, or @GROUP), the chosen
// sort, failing tasks first when asked.
function shownRows() {
  const filter = $("taskfilter").value.trim();
  let rows = state.tasks;
  if (filter.startsWith("@")) {
    const members = new Set(state.groups[filter.slice(1)] || []);
    rows = rows.filter((r) => members.has(r.name) || members.has(r.name.replace(/-\d+$/, "")));
  } else if (filter) {
    rows = rows.filter((r) => r.name.includes(filter) || (r.state || "").includes(filter));
  }
  const order = new Map(state.tasks.map((r, i) => [r.name, i]));
  const key = {
    order: (r) => order.get(r.name),
    name: (r) => r.name,
    state: (r) => r.state || "",
    cpu: (r) => -(state.usage.get(r.name)?.cpu_percent || 0),
    mem: (r) => -(state.usage.get(r.name)?.memory_bytes || 0),
    restarts: (r) => -(r.restart_count || 0),
  }[state.sort];
  const failingFirst = $("failfirst").checked;
  return [...rows].sort((a, b) => {
    if (failingFirst && (tone(a) === "bad") !== (tone(b) === "bad")) return tone(a) === "bad" ? -1 : 1;
    const ka = key(a), kb = key(b);
    return ka < kb ? -1 : ka > kb ? 1 : order.get(a.name) - order.get(b.name);
  });
}

// While a button is pressed on the task table, its rows stay where they are: a row that
// moves between the press and the click (a crash-looping task re-sorted) loses the click,
// or gives it to another task's button. Released by the click itself (a touch's click comes
// a moment after the finger lifts), else shortly after the release, and at most after 5 s.
let pressed = false;
let releaseTimer = 0;
function release() {
  clearTimeout(releaseTimer);
  if (!pressed) return;
  pressed = false;
  setTimeout(renderTasks, 0);  // after the click's own handlers
}
$("tasks").addEventListener("pointerdown", (event) => {
  if (event.button !== 0) return;
  pressed = true;
  clearTimeout(releaseTimer);
  releaseTimer = setTimeout(release, 5000);
}, true);
document.addEventListener("pointerup", () => {
  if (!pressed) return;
  clearTimeout(releaseTimer);
  releaseTimer = setTimeout(release, 300);
}, true);
document.addEventListener("click", release, true);
for (const kind of ["pointercancel", "dragstart", "contextmenu"]) document.addEventListener(kind, release, true);
window.addEventListener("blur", release);

function renderTasks() {
  const body = $("tasks").tBodies[0];
  const names = new Set(state.tasks.map((r) => r.name));
  for (const [name, tr] of state.rows) if (!names.has(name)) { tr.remove(); state.rows.delete(name); }
  const rows = shownRows();
  const shown = new Set(rows.map((r) => r.name));
  for (const [name, tr] of state.rows) if (!shown.has(name)) tr.remove();
  rows.forEach((row, index) => {
    let tr = state.rows.get(row.name);
    if (!tr) { tr = makeRow(row.name); state.rows.set(row.name, tr); }
    if (body.rows[index] !== tr && !(pressed && tr.isConnected)) body.insertBefore(tr, body.rows[index] || null);
    tr.classList.remove("ok", "bad", "wait", "off");
    tr.classList.add(tone(row));
    cell(tr, "state", row.state || "", row.command || "");
    cell(tr, "health", health(row));
    cell(tr, "pid", row.pid == null ? "" : String(row.pid));
    portCell(tr.querySelector("td.port"), row);
    urlLink(tr.querySelector("a.url"), row);
    cell(tr, "restarts", String(row.restart_count || 0));
    cell(tr, "exit", lastExit(row));
    buttonsFor(tr, row);
  });
  tickUptimes();
  summary();
}

// The buttons a task's state allows: start what is not running, stop and restart what is.
function buttonsFor(tr, row) {
  const can = { start: !row.running, stop: row.running || row.state === "completed", restart: row.in_config !== false };
  for (const button of tr.querySelectorAll("button[data-act]")) {
    button.disabled = state.down || button.dataset.busy === "1" || !can[button.dataset.act];
  }
}

function summary() {
  const count = { ok: 0, bad: 0, wait: 0, off: 0 };
  for (const row of state.tasks) count[tone(row)] += 1;
  const parts = [`${state.tasks.length} tasks`, `${count.ok} running`];
  if (count.wait) parts.push(`${count.wait} starting`);
  parts.push(`${count.bad} failing`, `${count.off} stopped`);
  $("summary").textContent = parts.join(" · ");
  $("summary").className = count.bad ? "bad" : "";
}

function portCell(td, row) {
  const key = `${row.port}|${row.running}`;
  if (td.dataset.key === key) return;
  td.dataset.key = key;
  td.textContent = "";
  if (row.port == null) return;
  if (!row.running) { td.textContent = String(row.port); return; }
  const a = document.createElement("a");
  a.href = `http://127.0.0.1:${row.port}/`;
  a.target = "_blank";
  a.rel = "noopener noreferrer";
  a.textContent = String(row.port);
  td.append(a);
}

function urlLink(a, row) { // the task's named URL (the proxy's), under its name
  const url = row.url || "";
  if (a.dataset.url === url) return;
  a.dataset.url = url;
  a.textContent = url.replace(/^https?:\/\//, "");
  a.hidden = !url;
  if (url) a.href = url;
  else a.removeAttribute("href");
}

function tickUptimes() {
  for (const row of state.tasks) {
    const tr = state.rows.get(row.name);
    const up = row.running && row.uptime != null ? row.uptime + (performance.now() - state.seenAt) / 1000 : null;
    if (tr) cell(tr, "uptime", up == null ? "" : duration(up));
  }
}

// Events -----------------------------------------------------------------------------

const eventKey = (e) => `${e.ts}|${e.event}|${e.task}`;
const feedQueue = [];

function addEvent(e) {
  if (state.seen.has(eventKey(e))) return false; // pushed while the history was read
  state.seen.add(eventKey(e));
  if (state.seen.size > 20000) state.seen = new Set([...state.seen].slice(-10000));
  if (e.event === "exited" && e.task) state.lastExit.set(e.task, e);
  timeline.add(e);
  feedQueue.push(e);
  if (feedQueue.length === 1) requestAnimationFrame(flushFeed);
  return true;
}

function onEvent(e) {
  if (!addEvent(e)) return;
  const tr = e.task && state.rows.get(e.task);
  if (tr && END.has(e.event)) { // at once, before the status that confirms it
    tr.classList.remove("ok", "bad", "wait", "off");
    tr.classList.add(calm(e) ? "off" : "bad");
    cell(tr, "state", e.description || e.event);
  }
  refreshSoon();
}

// The feed, drawn once a frame with what came since: an event storm costs one insert.
function flushFeed() {
  const list = $("events");
  const frag = document.createDocumentFragment();
  for (const e of feedQueue.splice(0).slice(-MAX_FEED).reverse()) { // newest first
    const li = document.createElement("li");
    li.className = END.has(e.event) && !calm(e) ? "bad" : e.event.startsWith("health") ? "wait" : "";
    for (const [cls, text] of [["time", clock(e.ts)], ["task", e.task || "·"], ["event", e.event], ["detail", detail(e)]]) {
      const span = document.createElement("span");
      span.className = cls;
      span.textContent = text;
      li.append(span);
    }
    frag.append(li);
  }
  list.insertBefore(frag, list.firstChild);
  while (list.children.length > MAX_FEED) list.lastChild.remove();
}

// Logs: which task --------------------------------------------------------------------

function fillTaskSelect() {
  const select = $("logtask");
  const groups = Object.keys(state.groups).map((g) => `@${g}`);
  const names = ["", ...state.tasks.map((r) => r.name), ...groups];
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

// Actions ----------------------------------------------------------------------------

const dependents = (name) => state.tasks.filter((r) => needs(r).includes(name)).map((r) => r.name);

function confirmStop(tasks) {
  if (!tasks) return confirm("Stop every task and end the session?");
  const done = tasks.map((t) => state.tasks.find((r) => r.name === t)).filter((r) => r && r.state === "completed");
  if (!done.length) return true;
  const lines = done.map((r) => {
    const after = dependents(r.name);
    const them = after.length ? `its dependents (${after.join(", ")}) will run it again before they start next time` : "nothing depends on it";
    return `${r.name} already completed. Stopping it clears that: ${them}.`;
  });
  return confirm(`${lines.join("\n")}\nStop it?`);
}

// What the daemon said, in a line: what was done, what was already so, and its warnings.
function describe(command, what, result) {
  const parts = [];
  const list = (label, names) => names && names.length && parts.push(`${label} ${names.join(", ")}`);
  list("started", result.started);
  list("completed", result.completed);
  list("already running:", result.already_running);
  list("stopped", result.stopped);
  list("not running:", result.not_running);
  list("also restarted (dependents):", result.cascaded);
  for (const [name, why] of Object.entries(result.skipped || {})) parts.push(`${name} skipped: ${why}`);
  for (const [name, why] of Object.entries(result.failed || {})) parts.push(`${name} failed: ${why}`);
  if (result.session_kept) parts.push(result.session_kept);
  for (const w of result.warnings || []) parts.push(`warning: ${w}`);
  return `${command} ${what}: ${parts.length ? parts.join("; ") : "done"}`;
}

async function act(command, tasks, button) {
  const what = tasks ? tasks.join(", ") : "all tasks";
  if (command === "stop" && !confirmStop(tasks)) return;
  button.disabled = true;
  button.dataset.busy = "1";
  notice(`${command} ${what}…`);
  const reply = await send(command, tasks ? { tasks } : {});
  delete button.dataset.busy;
  button.disabled = state.down;
  if (reply.ok) {
    const r = reply.result;
    const warned = (r.warnings || []).length || Object.keys(r.failed || {}).length;
    notice(describe(command, what, r), Boolean(warned));
  } else {
    notice(`${command} ${what} failed: ${reply.error.message}`, true);
  }
  refreshSoon();
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button");
  if (!button) return;
  if (button.dataset.act) act(button.dataset.act, [button.dataset.task], button);
  else if (button.dataset.all) act(button.dataset.all, null, button);
  else if (button.dataset.sort) { state.sort = button.dataset.sort; renderTasks(); markSort(); }
});

function markSort() {
  for (const b of document.querySelectorAll("button[data-sort]")) b.classList.toggle("on", b.dataset.sort === state.sort);
}

// Keyboard: / filter tasks, j/k or arrows move, Enter shows the log, s/x/r start, stop,
// restart the chosen task, l the log's filter, ? the keys.
function selectRow(step) {
  const rows = [...$("tasks").tBodies[0].rows];
  if (!rows.length) return;
  const at = rows.indexOf(document.activeElement.closest?.("tr"));
  const next = rows[Math.max(0, Math.min(rows.length - 1, at < 0 ? 0 : at + step))];
  next.focus();
}

document.addEventListener("keydown", (event) => {
  if (event.target.matches("input, select, textarea") || event.ctrlKey || event.metaKey || event.altKey) {
    if (event.key === "Escape") event.target.blur();
    return;
  }
  if ((event.key === "Enter" || event.key === " ") && event.target.closest("button, a, summary")) return;
  const tr = document.activeElement.closest?.("tr[data-task]");
  const task = tr && tr.dataset.task;
  const press = (act) => { const b = tr && tr.querySelector(`button[data-act=${act}]`); if (b && !b.disabled) b.click(); };
  const keys = {
    "/": () => $("taskfilter").focus(),
    l: () => $("filter").focus(),
    j: () => selectRow(1), ArrowDown: () => selectRow(1),
    k: () => selectRow(-1), ArrowUp: () => selectRow(-1),
    Enter: () => task && showLog(task),
    s: () => press("start"), x: () => press("stop"), r: () => press("restart"),
    "?": () => { $("keys").open = !$("keys").open; },
  };
  const run = keys[event.key];
  if (!run) return;
  event.preventDefault();
  run();
});

let filterTimer = null;
$("filter").addEventListener("input", () => {
  clearTimeout(filterTimer);
  filterTimer = setTimeout(() => loadLog(true), 300);
});
$("taskfilter").addEventListener("input", renderTasks);
$("failfirst").addEventListener("change", renderTasks);
$("logtask").addEventListener("change", () => loadLog(true));
$("follow").addEventListener("change", () => $("follow").checked && loadLog(false));
$("download").addEventListener("click", downloadLog);
$("logtrimload").addEventListener("click", downloadLog);
$("logout").addEventListener("click", () => send("logout"));

setInterval(() => {
  tickUptimes();
  if ($("follow").checked && !state.down) loadLog(false);
}, 1000);
setInterval(() => { if (!state.down && !document.hidden) usage(); }, 3000);
setInterval(() => { if (!state.down) refresh(); }, 5000);
window.addEventListener("resize", () => timeline.resized());
markSort();
connect();
