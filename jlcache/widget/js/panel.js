// jlcache panel front end: a plain ES module for anywidget (no build step).
//
// The kernel owns every piece of state (rows, paging, sort order, what is expanded); this
// view only draws the synced traits and turns clicks into messages:
//   {type: "clear"|"cancel", id}, {type: "expand", id, open}, {type: "page", id, page},
//   {type: "sort", key, desc}, {type: "refresh"}
// Rows arrive already paged, so a cache of 10,000 entries never reaches the browser whole.
//
//   model "change:<trait>" --> draw<Section>(ctx) builds fresh elements --> patch() onto the page
//   click anywhere in the panel --> onClick(ctx) reads data-* attributes --> model.send()
//
// Sections are redrawn up to 5 times a second while a job runs, so they are *patched*:
// rows are matched by their data-id and updated in place, never replaced. A button under
// the pointer stays the same element between mousedown and mouseup (a replaced one would
// swallow the click), and one listener on the panel reads what a button does from its
// attributes at click time, so a patched row can never fire an outdated handler.

const CACHE_COLS = [
  // [label, sort key, width in px (null: takes the rest)]
  ["name", "name", null],
  ["entries", null, 70],
  ["size", "size", 80],
  ["hits", null, 70],
  ["misses", null, 70],
  ["time saved", null, 92],
  ["last used", "last_used", 100],
  ["", null, 64],
];
const JOB_COLS = [
  // [label, numeric, width in px]
  ["function", false, null], ["backend", false, 112], ["progress", false, 190], ["errors", true, 60],
  ["elapsed", true, 76], ["rate", true, 64], ["ETA", true, 60], ["status", false, 140],
];
const INDENT = 16;
const NUMBER = new Intl.NumberFormat("en-US");

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("data-") || k.startsWith("aria-") || k === "style" || k === "role") el.setAttribute(k, v);
    else el[k] = v;
  }
  for (const c of children) if (c !== null && c !== undefined) el.append(c);
  return el;
}

// ----------------------------------------------------------------------------- patching
function patch(from, to) {
  if (from.nodeType !== to.nodeType || from.nodeName !== to.nodeName) {
    from.replaceWith(to);
    return;
  }
  if (from.nodeType !== Node.ELEMENT_NODE) {
    if (from.nodeValue !== to.nodeValue) from.nodeValue = to.nodeValue;
    return;
  }
  for (const a of [...from.attributes]) if (!to.hasAttribute(a.name)) from.removeAttribute(a.name);
  for (const a of to.attributes) if (from.getAttribute(a.name) !== a.value) from.setAttribute(a.name, a.value);
  patchChildren(from, [...to.childNodes]);
}

function patchChildren(parent, targets) {
  // Elements with a data-id are matched by it; anything else by position.
  const keyed = new Map();
  for (const c of parent.children) if (c.dataset.id) keyed.set(c.dataset.id, c);
  let cursor = parent.firstChild;
  for (const t of targets) {
    const key = t.nodeType === Node.ELEMENT_NODE ? t.dataset.id : undefined;
    let match = key ? keyed.get(key) : null;
    if (key) keyed.delete(key);
    else if (cursor && !(cursor.nodeType === Node.ELEMENT_NODE && cursor.dataset.id)) match = cursor;
    if (!match) {
      parent.insertBefore(t, cursor);
      continue;
    }
    if (match === cursor) cursor = cursor.nextSibling;
    else parent.insertBefore(match, cursor);
    patch(match, t);
  }
  while (cursor) {
    const next = cursor.nextSibling;
    cursor.remove();
    cursor = next;
  }
}

// ----------------------------------------------------------------------------- formatting
const num = (n) => (n === null || n === undefined || n === "" ? "" : NUMBER.format(n));

function ago(epoch) {
  if (!epoch) return "";
  const s = Math.max(0, Date.now() / 1000 - epoch);
  if (s < 5) return "just now";
  if (s < 60) return `${Math.floor(s)} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

function duration(s) {
  if (s === null || s === undefined) return "";
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(Math.floor(s % 60)).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
}

const stamp = (epoch) => (epoch ? new Date(epoch * 1000).toLocaleString() : "");
const colgroup = (widths) => h("colgroup", {}, ...widths.map((w) => h("col", { style: w ? `width:${w}px` : null })));
const btn = (text, action, cls = "", attrs = {}) =>
  h("button", { class: `jlc-btn${cls ? ` ${cls}` : ""}`, text, "data-action": action, ...attrs });

// ----------------------------------------------------------------------------- header
function askConfirm(ctx, target) {
  const s = ctx.model.get("summary") || {};
  const detail = target === "all"
    ? `all ${num(s.entries ?? 0)} entries (${s.size ?? "0 B"})`
    : `${num(s.stale_versions ?? 0)} stale version(s) (${s.stale_size ?? "0 B"})`;
  ctx.confirmBar.replaceChildren(
    h("span", { text: `Clear ${detail} from ${s.location}? This deletes them from disk.` }),
    btn("Yes, clear", "confirm", "jlc-danger", { "data-target": target }),
    btn("Cancel", "dismiss"),
  );
  ctx.confirmBar.hidden = false;
}

function drawHeader(ctx) {
  const s = ctx.model.get("summary") || {};
  patchChildren(ctx.header, [
    h("span", { class: "jlc-title", text: "jlcache" }),
    h("code", { class: "jlc-location", text: s.location || "(caching disabled)", title: s.location || "" }),
    h("span", { class: "jlc-total", text: `${num(s.entries ?? 0)} entries · ${s.size ?? "0 B"}`,
      title: `${num(s.bytes ?? 0)} bytes allocated on disk` }),
    h("span", { class: "jlc-spacer" }),
    btn("refresh", "refresh", "", { title: "Re-read the cache directory" }),
    btn("clear stale", "clear-stale", "", { title: s.stale_tip || "Delete stale versions",
      disabled: !s.stale_versions }),
    btn("clear all", "clear-all", "jlc-danger", { title: "Delete every entry of this cache", disabled: !s.entries }),
  ]);
}

// ----------------------------------------------------------------------------- cache tables
function sortHeader(ctx, label, key) {
  if (!key) return h("th", { text: label, class: label ? "jlc-num" : "" });
  const view = ctx.model.get("view") || {};
  const active = view.sort === key;
  return h("th", { class: `jlc-sortable${active ? " jlc-sorted" : ""}${key === "name" ? "" : " jlc-num"}`,
    text: label + (active ? (view.desc ? " ▾" : " ▴") : ""), title: `Sort by ${label}`, "data-sort": key,
    "data-desc": String(active ? !view.desc : key !== "name") });
}

function pager(ctx, id, sec, depth) {
  if (!sec || sec.pages <= 1) return null;
  const size = (ctx.model.get("view") || {}).page_size || sec.rows.length;
  const from = sec.page * size + 1;
  return h("tr", { class: "jlc-pager-row", "data-pager": id },
    h("td", { colSpan: CACHE_COLS.length, class: "jlc-pager" },
      h("span", { class: "jlc-indent", style: `width:${depth * INDENT + 18}px` }),
      btn("‹", "page", "", { disabled: sec.page === 0, title: "Previous page", "data-page": sec.page - 1 }),
      h("span", { class: "jlc-page", text: ` ${num(from)}–${num(from + sec.rows.length - 1)} of ${num(sec.total)} ` }),
      btn("›", "page", "", { disabled: sec.page >= sec.pages - 1, title: "Next page", "data-page": sec.page + 1 }),
      h("span", { class: "jlc-page-of", text: `page ${num(sec.page + 1)} / ${num(sec.pages)}` })));
}

function nameCell(row, depth) {
  const open = !!row.children;
  const caret = row.type !== "entry"
    ? btn(open ? "▾" : "▸", "expand", "jlc-caret", { title: open ? "Collapse" : "Expand", "data-open": String(!open) })
    : h("span", { class: "jlc-caret-space" });
  const tip = [row.label, row.state_tip || (row.state && `(${row.state})`), row.type === "entry" ? `key ${row.detail}` : row.detail]
    .filter(Boolean).join("\n");
  return h("td", { class: "jlc-name", title: tip },
    h("div", { class: "jlc-name-in" },
      h("span", { class: "jlc-indent", style: `width:${depth * INDENT}px` }), caret,
      h("span", { class: `jlc-label jlc-${row.type}`, text: row.label }),
      row.state ? h("span", { class: `jlc-badge jlc-${row.state}`, text: row.state, title: row.state_tip || null }) : null,
      row.detail && row.type !== "entry" ? h("span", { class: "jlc-detail", text: row.detail }) : null));
}

function cacheRow(ctx, row, depth, out) {
  const entry = row.type === "entry";
  const td = (text, title, extra = "") => h("td", { class: `jlc-num${extra}`, text: text ?? "", title });
  const sizeTip = entry ? `${num(row.bytes)} bytes on disk (${num(row.file_bytes)} bytes of data)`
    : `${num(row.bytes)} bytes on disk`;
  const hitsTip = row.served_size ? `${row.served_size} loaded from the cache since this panel opened` : null;
  const usedTip = entry ? `created ${stamp(row.created)}\nlast used ${stamp(row.last_used)}` : stamp(row.last_used);
  out.push(h("tr", { class: `jlc-row jlc-row-${row.type}`, "data-id": row.id },
    nameCell(row, depth), td(num(row.entries)), td(row.size, sizeTip),
    td(entry ? "" : num(row.hits), hitsTip), td(entry ? "" : num(row.misses)),
    entry ? td(row.compute, "time it took to compute this entry", " jlc-dim")
      : td(row.saved, "sum of the compute time of this session's hits"),
    td(ago(row.last_used), usedTip),
    h("td", { class: "jlc-actions" }, btn("clear", "clear", "jlc-clear",
      { title: `Delete this ${row.type === "group" ? "function or cell" : row.type} from disk` }))));
  if (row.children) {
    for (const child of row.children.rows) cacheRow(ctx, child, depth + 1, out);
    const p = pager(ctx, row.id, row.children, depth + 1);
    if (p) out.push(p);
  }
}

function drawCache(ctx, key) {
  const sec = ctx.model.get(key) || { rows: [], total: 0 };
  const body = [];
  for (const row of sec.rows || []) cacheRow(ctx, row, 0, body);
  const p = pager(ctx, key, sec, 0);
  if (p) body.push(p);
  if (!body.length) {
    body.push(h("tr", {}, h("td", { class: "jlc-empty", colSpan: CACHE_COLS.length,
      text: key === "cells" ? "No cached cells yet (use %%memo)." : "No cached functions yet." })));
  }
  patchChildren(ctx.sections[key], [
    h("div", { class: "jlc-section-title", text: `${key === "cells" ? "Cells" : "Functions"} (${num(sec.total ?? 0)})` }),
    h("div", { class: "jlc-scroll" }, h("table", { class: "jlc-table jlc-cache" }, colgroup(CACHE_COLS.map((c) => c[2])),
      h("thead", {}, h("tr", {}, ...CACHE_COLS.map(([label, sortKey]) => sortHeader(ctx, label, sortKey)))),
      h("tbody", {}, ...body))),
  ]);
}

// ----------------------------------------------------------------------------- jobs
function fractionOf(job) {
  // Python sends the fraction when the total is known (sized inputs); an iterator's job
  // has none while it runs, and shows a sliding bar instead.
  if (typeof job.fraction === "number") return Math.min(1, Math.max(0, job.fraction));
  if (job.total) return Math.min(1, job.done / job.total);
  return job.status === "running" ? null : (job.status === "done" ? 1 : 0);
}

function progressCell(job) {
  const frac = fractionOf(job);
  const bar = h("div", { class: `jlc-bar jlc-bar-${job.status}${frac === null ? " jlc-bar-unknown" : ""}`,
    role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100,
    "aria-valuenow": frac === null ? null : Math.round(frac * 100) },
  h("div", { class: "jlc-bar-fill", style: frac === null ? null : `width:${(frac * 100).toFixed(1)}%` }));
  const total = job.total === null || job.total === undefined ? "?" : num(job.total);
  return h("td", { class: "jlc-progress", "data-done": job.done, "data-total": job.total ?? "",
    "data-fraction": frac ?? "", title: frac === null ? "total unknown until the input is exhausted"
      : `${(frac * 100).toFixed(1)} %` },
  h("div", { class: "jlc-progress-in" }, bar, h("span", { class: "jlc-count", text: `${num(job.done)} / ${total}` })));
}

function jobRow(ctx, j, since) {
  const numCell = (text, extra = "") => h("td", { class: `jlc-num${extra}`, text });
  const workers = j.n_jobs ? ` ×${j.n_jobs}` : "";
  const cancel = j.cancellable
    ? btn("cancel", "cancel", "jlc-danger", { title: "Cancel this background job", disabled: ctx.cancelling.has(j.id) })
    : null;
  return h("tr", { class: `jlc-row jlc-job jlc-job-${j.status}`, "data-id": j.id },
    h("td", { class: "jlc-name", title: `${j.label || j.job}\njob ${j.job}` },
      h("div", { class: "jlc-name-in" }, h("span", { class: "jlc-label", text: j.label || j.job }))),
    h("td", { text: `${j.backend}${workers}`, title: `backend ${j.backend}, n_jobs ${j.n_jobs ?? "?"}` }),
    progressCell(j), numCell(num(j.errors), j.errors ? " jlc-error-text" : ""),
    numCell(duration(j.status === "running" ? j.elapsed + since : j.elapsed)),
    numCell(j.rate_text), numCell(j.eta_text),
    h("td", { class: "jlc-status-cell" }, h("span", { class: `jlc-badge jlc-status-${j.status}`, text: j.status }), cancel));
}

function drawJobs(ctx) {
  const jobs = ctx.model.get("jobs") || [];
  const since = (Date.now() - ctx.jobsReceived) / 1000;
  const body = jobs.map((j) => jobRow(ctx, j, since));
  if (!body.length) {
    body.push(h("tr", {}, h("td", { class: "jlc-empty", colSpan: JOB_COLS.length, text: "No jobs yet (Parallel, %pmap)." })));
  }
  const head = h("tr", {}, ...JOB_COLS.map(([t, right]) => h("th", { text: t, class: right ? "jlc-num" : "" })));
  patchChildren(ctx.sections.jobs, [
    h("div", { class: "jlc-section-title", text: `Jobs (${num(jobs.length)})` }),
    h("div", { class: "jlc-scroll" }, h("table", { class: "jlc-table jlc-jobs" }, colgroup(JOB_COLS.map((c) => c[2])),
      h("thead", {}, head), h("tbody", {}, ...body))),
  ]);
}

function drawStatus(ctx) {
  const s = ctx.model.get("status") || {};
  ctx.status.textContent = s.text || "";
  ctx.status.classList.toggle("jlc-error-text", !!s.error);
}

// ----------------------------------------------------------------------------- clicks
function onClick(ctx, event) {
  const el = event.target.closest("button, th[data-sort]");
  if (!el || el.disabled || !ctx.root.contains(el)) return;
  const id = el.closest("[data-id]")?.dataset.id;
  const action = el.dataset.action || "sort";
  if (action === "sort") ctx.send({ type: "sort", key: el.dataset.sort, desc: el.dataset.desc === "true" });
  else if (action === "clear") ctx.send({ type: "clear", id });
  else if (action === "expand") ctx.send({ type: "expand", id, open: el.dataset.open === "true" });
  else if (action === "page") {
    ctx.send({ type: "page", id: el.closest("[data-pager]").dataset.pager, page: Number(el.dataset.page) });
  } else if (action === "cancel") {
    ctx.cancelling.add(id);
    el.disabled = true;
    ctx.send({ type: "cancel", id });
  } else if (action === "refresh") ctx.send({ type: "refresh" });
  else if (action === "clear-stale") askConfirm(ctx, "stale");
  else if (action === "clear-all") askConfirm(ctx, "all");
  else if (action === "confirm") {
    ctx.confirmBar.hidden = true;
    ctx.send({ type: "clear", id: el.dataset.target });
  } else if (action === "dismiss") ctx.confirmBar.hidden = true;
}

// ----------------------------------------------------------------------------- render
function render({ model, el }) {
  const section = (name) => h("div", { class: "jlc-section", "data-section": name });
  const ctx = {
    model, send: (msg) => model.send(msg), jobsReceived: Date.now(), cancelling: new Set(),
    header: h("div", { class: "jlc-header" }), confirmBar: h("div", { class: "jlc-confirm", hidden: true }),
    sections: { functions: section("functions"), cells: section("cells"), jobs: section("jobs") },
    status: h("div", { class: "jlc-status", role: "status" }),
  };
  ctx.root = h("div", { class: "jlc-panel" }, ctx.header, ctx.confirmBar, ctx.sections.functions,
    ctx.sections.cells, ctx.sections.jobs, ctx.status);
  const clicked = (event) => onClick(ctx, event);
  ctx.root.addEventListener("click", clicked);
  el.append(ctx.root);

  const drawAll = () => { drawHeader(ctx); drawCache(ctx, "functions"); drawCache(ctx, "cells"); };
  const handlers = [
    ["change:summary", () => drawHeader(ctx)],
    ["change:functions", () => drawCache(ctx, "functions")],
    ["change:cells", () => drawCache(ctx, "cells")],
    ["change:view", drawAll],
    ["change:jobs", () => { ctx.jobsReceived = Date.now(); drawJobs(ctx); }],
    ["change:status", () => drawStatus(ctx)],
  ];
  for (const [ev, fn] of handlers) model.on(ev, fn);
  drawAll();
  drawJobs(ctx);
  drawStatus(ctx);

  // Elapsed times of running jobs and "last used" ages move on their own.
  let ticks = 0;
  const timer = setInterval(() => {
    ticks += 1;
    if ((model.get("jobs") || []).some((j) => j.status === "running")) drawJobs(ctx);
    if (ticks % 15 === 0) drawAll();
  }, 1000);

  return () => {
    clearInterval(timer);
    ctx.root.removeEventListener("click", clicked);
    for (const [ev, fn] of handlers) model.off(ev, fn);
  };
}

export default { render };
