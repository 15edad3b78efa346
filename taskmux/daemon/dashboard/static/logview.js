// The dashboard's log: a task's lines (or all tasks' merged), followed by cursor.
//
// A filter (or a task) is searched once when it changes: the last 500 matches and the
// cursor where that read ended. Following then asks only for what was written after the
// cursor (`logs` with `after`), so a filter that matches nothing costs the daemon a
// look at the new bytes, not a search of the history. Nothing is dropped silently: when
// more lines arrive than the page draws (a burst), the page reads on to the end, draws
// the newest, and leaves an "N lines skipped" marker whose button loads the ones between.
"use strict";

const FIRST = 500; // lines shown when a task or filter is chosen
const PAGE = 2000; // lines one follow step draws at most; more leave a marker
const READ = 10000; // lines per read while catching up (the API's most)
const MAX_LOG = 5000; // lines kept in the page (older ones: download)

const logView = { gen: 0, cursor: null, busy: false, loaded: false, trimmed: 0 };

function logParams() {
  const task = $("logtask").value, filter = $("filter").value;
  const params = { ansi: true };
  if (task) params.task = task;
  if (filter) Object.assign(params, { grep: filter, context: 0 });
  return params;
}

async function loadLog(reset) {
  if (reset) Object.assign(logView, { gen: logView.gen + 1, cursor: null, busy: false, loaded: false, trimmed: 0 });
  else if (logView.busy || !logView.loaded) return;
  const gen = logView.gen, base = logParams();
  logView.busy = true;
  try {
    if (reset) await firstRead(base, gen);
    else await followRead(base, gen);
  } finally {
    if (gen === logView.gen) logView.busy = false;
  }
}

function logError(reply) {
  $("logerror").textContent = reply.ok ? "" : reply.error.message;
  return reply.ok;
}

async function firstRead(base, gen) {
  const reply = await send("logs", { ...base, lines: FIRST });
  if (gen !== logView.gen) return;
  const pre = $("log");
  pre.replaceChildren();
  showTrimmed();
  if (!logError(reply)) return; // a bad regex: no following until it is changed
  appendLines(reply.result.lines, base);
  logView.cursor = reply.result.next_cursor;
  logView.loaded = true;
  pre.scrollTop = pre.scrollHeight;
}

async function followRead(base, gen) {
  const pre = $("log");
  const start = logView.cursor;
  let reply = await send("logs", { ...base, after: start, lines: PAGE });
  if (gen !== logView.gen || !logError(reply)) return;
  let { lines, next_cursor: cursor, more } = reply.result;
  const lost = new Set(reply.result.lost);
  let count = lines.length;
  while (more) { // behind: read on to the end, keeping only the newest PAGE lines
    reply = await send("logs", { ...base, after: cursor, lines: READ });
    if (gen !== logView.gen) return;
    if (!reply.ok) break; // what was read stands; the next step goes on from `cursor`
    reply.result.lost.forEach((t) => lost.add(t));
    count += reply.result.lines.length;
    lines = lines.concat(reply.result.lines).slice(-PAGE);
    ({ next_cursor: cursor, more } = reply.result);
  }
  const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
  if (lost.size) pre.append(note(`some lines of ${[...lost].join(", ")} were rotated away before they could be read`));
  if (count > lines.length) pre.append(gapMarker(start, count - lines.length, base));
  appendLines(lines, base);
  logView.cursor = cursor;
  if (atBottom) pre.scrollTop = pre.scrollHeight;
}

function appendLines(lines, base, before = null) {
  const pre = $("log");
  const frag = document.createDocumentFragment();
  for (const line of lines) frag.append(logLine(line, !base.task));
  pre.insertBefore(frag, before);
  let trimmed = 0;
  while (pre.childElementCount > MAX_LOG) {
    const first = pre.firstElementChild;
    trimmed += first.classList.contains("gap") ? Number(first.dataset.count) : first.classList.contains("note") ? 0 : 1;
    first.remove();
  }
  if (trimmed) { logView.trimmed += trimmed; showTrimmed(); }
}

function showTrimmed() {
  const n = logView.trimmed;
  $("logtrim").hidden = !n;
  $("logtrim").firstChild.textContent = `${n.toLocaleString()} earlier lines are no longer kept in the page: `;
}

function note(text) {
  const div = document.createElement("div");
  div.className = "note";
  div.textContent = text;
  return div;
}

// "N lines skipped — load": the lines after `cursor` that were read but not drawn.
function gapMarker(cursor, count, base) {
  const div = document.createElement("div");
  div.className = "gap";
  const text = document.createElement("span");
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = "load";
  div.append(text, button);
  const update = () => {
    div.dataset.count = String(count);
    text.textContent = `${count.toLocaleString()} lines skipped — `;
    button.textContent = count > PAGE ? `load ${PAGE.toLocaleString()} more` : "load";
  };
  update();
  button.addEventListener("click", async () => {
    button.disabled = true;
    const gen = logView.gen;
    const reply = await send("logs", { ...base, after: cursor, lines: Math.min(count, PAGE) });
    button.disabled = false;
    if (gen !== logView.gen || !logError(reply)) return;
    const lines = reply.result.lines;
    appendLines(lines, base, div);
    count -= lines.length;
    if (lines.length) cursor = lines[lines.length - 1].cursor || reply.result.next_cursor;
    if (count <= 0 || !lines.length) div.remove();
    else update();
  });
  return div;
}

function logLine(line, withTask) {
  const div = document.createElement("div");
  const ts = document.createElement("span");
  ts.className = "ts";
  ts.textContent = `${line.ts.slice(11, 19)} ${withTask ? line.task + " " : ""}`;
  div.append(ts, ansi(line.line));
  return div;
}

async function downloadLog() {
  const params = logParams();
  delete params.ansi;
  const reply = await send("logs", { ...params, lines: READ });
  if (!logError(reply)) return;
  const text = reply.result.lines.map((l) => `${l.ts} ${l.task} ${l.line}\n`).join("");
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([text], { type: "text/plain" }));
  a.download = `${(params.task || "all").replace(/[^\w.-]+/g, "_")}.log`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
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
