// The dashboard's pictures: the dependency graph and the last hour's timelines (SVG).
// Both are bounded: the graph scales to its card, and the timeline draws at most one
// mark per pixel column per kind, redraws only the rows whose events changed (at most
// once a second), and redraws everything only when its time scale moves on.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const HOUR = 3600;
const START = new Set(["started", "restarted"]);
const END = new Set(["exited", "stopped", "killed", "start_failed", "gave_up"]);
// An end that is not a failure: a stop by hand, a kill by hand, a one-shot that completed.
const calm = (e) => e.event === "stopped" || e.event === "killed" || (e.event === "exited" && e.exit_code === 0 && e.signal == null);

function el(name, attrs, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

// A long name, cut to fit a picture (the whole name is in the node's title).
const clip = (text, n) => (text.length > n ? `${text.slice(0, n - 1)}…` : text);

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

function drawGraph(svg, tasks, tone, onPick) {
  const rows = tasks.filter((r) => r.in_config !== false);
  const key = rows.map((r) => `${r.name}:${tone(r)}:${needs(r).join(",")}`).join("|");
  if (svg.dataset.key === key) return; // nothing that shows has changed
  svg.dataset.key = key;
  const layers = depths(rows);
  const W = 150, H = 28, DX = 190, DY = 40, PER_COLUMN = 10;
  // One column per dependency depth; a depth with many tasks wraps into more columns.
  const size = [];
  for (const r of rows) { const d = layers.get(r.name) || 0; size[d] = (size[d] || 0) + 1; }
  const firstColumn = [];
  let columns = 0;
  for (let d = 0; d < size.length; d++) { firstColumn[d] = columns; columns += Math.ceil((size[d] || 0) / PER_COLUMN); }
  const placed = [];
  const pos = new Map();
  let tallest = 1;
  for (const r of rows) {
    const d = layers.get(r.name) || 0;
    const i = (placed[d] = (placed[d] || 0) + 1) - 1;
    const column = firstColumn[d] + Math.floor(i / PER_COLUMN), place = i % PER_COLUMN;
    tallest = Math.max(tallest, place + 1);
    pos.set(r.name, { x: 10 + column * DX, y: 10 + place * DY, row: r });
  }
  const width = 20 + Math.max(0, columns - 1) * DX + W;
  const height = 20 + tallest * DY - (DY - H);
  svg.replaceChildren();
  // Scaled to its card (CSS: width 100%, a height cap): the picture never runs off it.
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.style.aspectRatio = `${width} / ${height}`;
  svg.style.maxWidth = `${width}px`;
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
    g.append(el("text", { x: x + W / 2, y: y + H / 2 + 4, "text-anchor": "middle" }, clip(row.name, 20)));
    g.addEventListener("click", () => onPick(row.name));
    svg.append(g);
  }
}

// The timeline ------------------------------------------------------------------------

const MAX_TASK_EVENTS = 600; // per task, the newest (older marks merge into the spans)
const RH = 22, LABEL = 110;

class Timeline {
  constructor(svg) {
    this.svg = svg;
    this.events = new Map(); // task -> its events, oldest first
    this.dirty = new Set();
    this.rows = [];
    this.groups = new Map(); // task -> its <g>
    this.scale = null;
    this.timer = null;
    this.last = 0;
    this.draws = 0; // for tests: how many row drawings were done
  }

  add(e) {
    if (!e.task) return;
    let list = this.events.get(e.task);
    if (!list) this.events.set(e.task, (list = []));
    let at = list.length; // in time order: pushed events can come before the history
    while (at > 0 && list[at - 1].ts > e.ts) at -= 1;
    list.splice(at, 0, e);
    if (list.length > MAX_TASK_EVENTS) list.splice(0, list.length - MAX_TASK_EVENTS);
    this.dirty.add(e.task);
    this.schedule();
  }

  setRows(rows) {
    const names = rows.map((r) => `${r.name}:${r.running}:${r.started_at}`).join("|");
    const changed = names !== this.rows.map((r) => `${r.name}:${r.running}:${r.started_at}`).join("|");
    this.rows = rows;
    if (changed) { this.scale = null; this.schedule(); }
  }

  resized() { // the width changed: the next drawing is a full one
    this.scale = null;
    this.schedule();
  }

  schedule() {
    if (this.timer) return;
    const wait = Math.max(0, this.last + 1000 - performance.now());
    this.timer = setTimeout(() => { this.timer = null; this.draw(); }, wait);
  }

  // A full drawing when the scale has run out (time moved on) or the rows changed;
  // otherwise only the rows whose events changed.
  draw() {
    this.last = performance.now();
    const now = Date.now() / 1000;
    if (!this.scale || now > this.scale.to) return this.drawAll(now);
    for (const task of this.dirty) this.drawRow(task);
    this.dirty.clear();
  }

  drawAll(now) {
    const svg = this.svg;
    let first = now;
    for (const list of this.events.values()) if (list.length) first = Math.min(first, list[0].ts);
    for (const r of this.rows) if (r.running && r.started_at) first = Math.min(first, r.started_at);
    const span = Math.min(HOUR, Math.max(20, (now - first) * 1.05));
    const width = Math.max(300, svg.parentElement.clientWidth - 26);
    const to = now + Math.max(5, span * 0.05); // room for what comes before the next full drawing
    this.scale = { from: now - span, to, span: to - (now - span), width };
    const height = 22 + this.rows.length * RH;
    svg.replaceChildren();
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.setAttribute("width", width);
    svg.setAttribute("height", height);
    for (let i = 4; i >= 0; i--) {
      const back = (span * i) / 4, tx = this.x(now - back);
      const text = i ? `-${back >= 120 ? `${Math.round(back / 60)}m` : `${Math.round(back)}s`}` : "now";
      svg.append(el("line", { x1: tx, x2: tx, y1: 0, y2: height - 16, class: "grid" }));
      svg.append(el("text", { x: tx, y: height - 4, "text-anchor": i ? "middle" : "end", class: "axis" }, text));
    }
    this.groups.clear();
    this.rows.forEach((row, i) => {
      const g = el("g", { transform: `translate(0 ${4 + i * RH})`, "data-task": row.name });
      const label = el("text", { x: 0, y: 13, class: "label" }, clip(row.name, 15));
      label.append(el("title", {}, row.name));
      g.append(label, el("g", {}));
      svg.append(g);
      this.groups.set(row.name, g);
      this.drawRow(row.name);
    });
    this.dirty.clear();
  }

  x(t) {
    const { from, span, width } = this.scale;
    return LABEL + ((Math.min(Math.max(t, from), from + span) - from) / span) * (width - LABEL - 8);
  }

  drawRow(task) {
    const g = this.groups.get(task);
    const row = this.rows.find((r) => r.name === task);
    if (!g || !row) return;
    this.draws += 1;
    const { from } = this.scale;
    const now = Date.now() / 1000;
    const marks = el("g", {});
    const evs = this.events.get(task) || [];
    let up = null;
    const bar = (a, b) => b > from && marks.append(el("rect", { x: this.x(a), y: 3, width: Math.max(1, this.x(b) - this.x(a)), height: RH - 8, class: "up" }));
    for (const e of evs) {
      if (START.has(e.event)) up = up ?? e.ts;
      else if (END.has(e.event)) { bar(up ?? from, e.ts); up = null; }
    }
    if (row.running) bar(up ?? Math.max(from, row.started_at || from), now);
    const drawn = new Set(); // one mark per pixel column and kind
    for (let i = evs.length - 1; i >= 0; i--) {
      const e = evs[i];
      if (e.ts < from) break;
      const kind = END.has(e.event) ? (calm(e) ? "stop" : "exit") : START.has(e.event) ? "start"
        : e.event === "health_failed" ? "sick" : e.event === "health_recovered" ? "well" : null;
      if (!kind) continue;
      const px = Math.round(this.x(e.ts));
      if (drawn.has(`${kind}${px}`)) continue;
      drawn.add(`${kind}${px}`);
      const mark = el("rect", { x: px - 1.5, y: 1, width: 3, height: RH - 4, class: `mark ${kind}` });
      mark.append(el("title", {}, `${clock(e.ts)} ${e.event} ${detail(e)}`));
      marks.append(mark);
    }
    g.lastChild.replaceWith(marks);
  }
}

function clock(ts) {
  return new Date(ts * 1000).toLocaleTimeString([], { hour12: false });
}

function detail(e) {
  for (const k of ["description", "reason", "error", "output"]) if (e[k]) return String(e[k]).slice(0, 300);
  if (e.port) return `port ${e.port}`;
  return "";
}
