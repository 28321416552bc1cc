// jlcache panel front end: a plain ES module for anywidget (no build step).
//
// The kernel owns every piece of state (rows, paging, sort order, what is expanded); this
// view only draws the synced traits and turns clicks into messages:
//   {type: "clear"|"cancel", id}, {type: "expand", id, open}, {type: "page", id, page},
//   {type: "sort", key, desc}, {type: "refresh"}
// Rows arrive already paged, so a cache of 10,000 entries never reaches the browser whole.

const CACHE_COLS = [
  ["label", "name", "name"],
  ["entries", "entries", null],
  ["size", "size", "size"],
  ["hits", "hits", null],
  ["misses", "misses", null],
  ["saved", "time saved", null],
  ["last_used", "last used", "last_used"],
];

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k.startsWith("data-")) el.setAttribute(k, v);
    else el[k] = v;
  }
  for (const c of children) if (c !== null && c !== undefined) el.append(c);
  return el;
}

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

function stamp(epoch) {
  return epoch ? new Date(epoch * 1000).toLocaleString() : "";
}

function render({ model, el }) {
  const send = (msg) => model.send(msg);
  const root = h("div", { class: "jlc-panel" });
  const header = h("div", { class: "jlc-header" });
  const confirmBar = h("div", { class: "jlc-confirm", hidden: true });
  const fnSection = h("div", { class: "jlc-section", "data-section": "functions" });
  const cellSection = h("div", { class: "jlc-section", "data-section": "cells" });
  const jobSection = h("div", { class: "jlc-section", "data-section": "jobs" });
  const status = h("div", { class: "jlc-status", role: "status" });
  root.append(header, confirmBar, fnSection, cellSection, jobSection, status);
  el.append(root);
  let jobsReceived = Date.now();

  function askConfirm(what, id) {
    const s = model.get("summary") || {};
    const detail = id === "all"
      ? `all ${s.entries ?? 0} entries (${s.size ?? "0 B"})`
      : `${s.stale_versions ?? 0} stale version(s) (${s.stale_size ?? "0 B"})`;
    confirmBar.replaceChildren(
      h("span", { text: `${what} ${detail} from ${s.location}? This deletes them from disk.` }),
      h("button", { class: "jlc-btn jlc-danger", text: "Yes, clear", "data-action": "confirm",
        onclick: () => { confirmBar.hidden = true; send({ type: "clear", id }); } }),
      h("button", { class: "jlc-btn", text: "Cancel", "data-action": "dismiss",
        onclick: () => { confirmBar.hidden = true; } }),
    );
    confirmBar.hidden = false;
  }

  function drawHeader() {
    const s = model.get("summary") || {};
    header.replaceChildren(
      h("span", { class: "jlc-title", text: "jlcache" }),
      h("code", { class: "jlc-location", text: s.location || "(caching disabled)", title: s.location || "" }),
      h("span", { class: "jlc-total", text: `${s.entries ?? 0} entries · ${s.size ?? "0 B"}` }),
      h("span", { class: "jlc-spacer" }),
      h("button", { class: "jlc-btn", text: "refresh", title: "Re-read the cache directory",
        "data-action": "refresh", onclick: () => send({ type: "refresh" }) }),
      h("button", { class: "jlc-btn", text: "clear stale", "data-action": "clear-stale",
        title: "Delete versions that are not the definition in this session",
        disabled: !s.stale_versions, onclick: () => askConfirm("Clear", "stale") }),
      h("button", { class: "jlc-btn jlc-danger", text: "clear all", "data-action": "clear-all",
        disabled: !s.entries, onclick: () => askConfirm("Clear", "all") }),
    );
  }

  function sortHeader(label, key) {
    const view = model.get("view") || {};
    if (!key) return h("th", { text: label, class: "jlc-num" });
    const active = view.sort === key;
    const arrow = active ? (view.desc ? " ▾" : " ▴") : "";
    const align = key === "name" ? "" : " jlc-num";
    return h("th", { class: `jlc-sortable${active ? " jlc-sorted" : ""}${align}`, text: label + arrow,
      title: `Sort by ${label}`, "data-sort": key,
      onclick: () => send({ type: "sort", key, desc: active ? !view.desc : key !== "name" }) });
  }

  function pager(id, sec, depth, ncols) {
    if (!sec || sec.pages <= 1) return null;
    const go = (p) => send({ type: "page", id, page: p });
    const td = h("td", { colSpan: ncols, class: "jlc-pager" },
      h("span", { class: "jlc-indent", style: `width:${depth * 14}px` }),
      h("button", { class: "jlc-btn", text: "‹", disabled: sec.page === 0, title: "Previous page",
        "data-action": "prev", onclick: () => go(sec.page - 1) }),
      h("span", { text: ` ${sec.page + 1} / ${sec.pages} · ${sec.total} rows ` }),
      h("button", { class: "jlc-btn", text: "›", disabled: sec.page >= sec.pages - 1, title: "Next page",
        "data-action": "next", onclick: () => go(sec.page + 1) }));
    return h("tr", { class: "jlc-pager-row", "data-pager": id }, td);
  }

  function cacheRow(row, depth, out) {
    const open = !!row.children;
    const expandable = row.type !== "entry";
    const caret = expandable
      ? h("button", { class: "jlc-caret", text: open ? "▾" : "▸", title: open ? "Collapse" : "Expand",
          "data-action": "expand", onclick: () => send({ type: "expand", id: row.id, open: !open }) })
      : h("span", { class: "jlc-caret-space" });
    const name = h("td", { class: "jlc-name", title: row.detail || row.label },
      h("span", { class: "jlc-indent", style: `width:${depth * 14}px` }), caret,
      h("span", { class: `jlc-label jlc-${row.type}`, text: row.label }),
      row.state ? h("span", { class: `jlc-badge jlc-${row.state}`, text: row.state }) : null,
      row.detail && row.type !== "entry" ? h("span", { class: "jlc-detail", text: row.detail }) : null);
    const num = (v, title) => h("td", { class: "jlc-num", text: v ?? "", title });
    const usedTitle = row.type === "entry"
      ? `created ${stamp(row.created)}; last used ${stamp(row.last_used)}; computed in ${row.compute}`
      : stamp(row.last_used);
    out.push(h("tr", { class: `jlc-row jlc-row-${row.type}`, "data-id": row.id },
      name, num(row.entries), num(row.size, `${row.bytes} bytes`),
      num(row.type === "entry" ? "" : row.hits), num(row.type === "entry" ? "" : row.misses),
      num(row.type === "entry" ? row.compute : row.saved,
        row.type === "entry" ? "compute time" : "sum of the compute time of this session's hits"),
      num(ago(row.last_used), usedTitle),
      h("td", { class: "jlc-actions" },
        h("button", { class: "jlc-btn jlc-clear", text: "clear", "data-action": "clear",
          title: `Delete this ${row.type} from disk`, onclick: () => send({ type: "clear", id: row.id }) }))));
    if (open) {
      for (const child of row.children.rows) cacheRow(child, depth + 1, out);
      const p = pager(row.id, row.children, depth + 1, CACHE_COLS.length + 1);
      if (p) out.push(p);
    }
  }

  function drawCache(container, key, title) {
    const sec = model.get(key) || { rows: [], total: 0 };
    const head = h("tr", {}, ...CACHE_COLS.map(([, label, sortKey]) => sortHeader(label, sortKey)), h("th"));
    const cols = h("colgroup", {}, h("col"), ...[64, 84, 56, 60, 90, 96, 60].map((w) => h("col", { style: `width:${w}px` })));
    const body = [];
    for (const row of sec.rows || []) cacheRow(row, 0, body);
    const p = pager(key, sec, 0, CACHE_COLS.length + 1);
    if (p) body.push(p);
    if (!body.length) {
      body.push(h("tr", {}, h("td", { class: "jlc-empty", colSpan: CACHE_COLS.length + 1,
        text: key === "cells" ? "No cached cells yet (use %%memo)." : "No cached functions yet." })));
    }
    container.replaceChildren(
      h("div", { class: "jlc-section-title", text: `${title} (${sec.total ?? 0})` }),
      h("table", { class: "jlc-table jlc-cache" }, cols, h("thead", {}, head), h("tbody", {}, ...body)));
  }

  function progressCell(job) {
    // Unknown total (an iterator): a sliding bar while running, full only once done.
    let frac = job.total ? Math.min(1, job.done / job.total) : null;
    if (frac === null && job.status !== "running") frac = job.status === "done" ? 1 : 0;
    const bar = h("div", { class: `jlc-bar jlc-bar-${job.status}` },
      h("div", { class: "jlc-bar-fill", style: frac === null ? "" : `width:${(frac * 100).toFixed(1)}%` }));
    if (frac === null) bar.classList.add("jlc-bar-unknown");
    return h("td", { class: "jlc-progress", "data-done": job.done, "data-total": job.total ?? "" },
      bar, h("span", { class: "jlc-count", text: `${job.done}/${job.total ?? "?"}` }));
  }

  function drawJobs() {
    const jobs = model.get("jobs") || [];
    const since = (Date.now() - jobsReceived) / 1000;
    const head = h("tr", {}, ...["function", "backend", "n_jobs", "progress", "errors", "elapsed", "rate",
      "ETA", "status", ""].map((t) => h("th", { text: t })));
    const body = jobs.map((j) => h("tr", { class: `jlc-row jlc-job jlc-job-${j.status}`, "data-id": j.id },
      h("td", { class: "jlc-name", text: j.label || j.job, title: `job ${j.job}` }),
      h("td", { text: j.backend }), h("td", { class: "jlc-num", text: j.n_jobs ?? "" }),
      progressCell(j),
      h("td", { class: `jlc-num${j.errors ? " jlc-error-text" : ""}`, text: j.errors }),
      h("td", { class: "jlc-num", text: duration(j.status === "running" ? j.elapsed + since : j.elapsed) }),
      h("td", { class: "jlc-num", text: j.rate_text }),
      h("td", { class: "jlc-num", text: j.eta_text }),
      h("td", {}, h("span", { class: `jlc-badge jlc-status-${j.status}`, text: j.status })),
      h("td", { class: "jlc-actions" }, j.cancellable
        ? h("button", { class: "jlc-btn jlc-danger", text: "cancel", "data-action": "cancel",
            title: "Cancel this background job", onclick: (e) => { e.target.disabled = true; send({ type: "cancel", id: j.id }); } })
        : null)));
    if (!body.length) {
      body.push(h("tr", {}, h("td", { class: "jlc-empty", colSpan: 10, text: "No jobs yet (Parallel, %pmap)." })));
    }
    jobSection.replaceChildren(
      h("div", { class: "jlc-section-title", text: `Jobs (${jobs.length})` }),
      h("table", { class: "jlc-table" }, h("thead", {}, head), h("tbody", {}, ...body)));
  }

  function drawStatus() {
    const s = model.get("status") || {};
    status.textContent = s.text || "";
    status.classList.toggle("jlc-error-text", !!s.error);
  }

  const drawAll = () => { drawHeader(); drawCache(fnSection, "functions", "Functions"); drawCache(cellSection, "cells", "Cells"); };
  const onJobs = () => { jobsReceived = Date.now(); drawJobs(); };
  const handlers = [
    ["change:summary", drawHeader],
    ["change:functions", () => drawCache(fnSection, "functions", "Functions")],
    ["change:cells", () => drawCache(cellSection, "cells", "Cells")],
    ["change:view", drawAll],
    ["change:jobs", onJobs],
    ["change:status", drawStatus],
  ];
  for (const [ev, fn] of handlers) model.on(ev, fn);
  drawAll();
  drawJobs();
  drawStatus();

  // Elapsed times of running jobs and "last used" ages move on their own.
  let ticks = 0;
  const timer = setInterval(() => {
    ticks += 1;
    if ((model.get("jobs") || []).some((j) => j.status === "running")) drawJobs();
    if (ticks % 15 === 0) drawAll();
  }, 1000);

  return () => {
    clearInterval(timer);
    for (const [ev, fn] of handlers) model.off(ev, fn);
  };
}

export default { render };
