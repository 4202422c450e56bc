// Supervisor wallboard: re-fetches /api/v1/wallboard on every live event (debounced), updates
// the tables in place, ticks "time in state" and "oldest wait" every second in the browser.
import { Live } from "/static/js/live.js";
import { api } from "/static/js/api.js";
import { h, duration, json } from "/static/js/util.js";

const L = json("sv-labels") || {};
const root = document.getElementById("wallboard");
let board = json("wb-data") || { queues: [], agents: [], at: new Date().toISOString() };
let skew = 0; // server clock minus browser clock, ms
let pending = null;
let inflight = false;
let again = false;

function serverNow() { return Date.now() + skew; }

function stateOf(a) {
  if (a.availability === "logged_out") return ["logged_out", L.logged_out];
  if (a.activity && a.activity !== "idle") return [a.activity, L[a.activity] || a.activity];
  if (a.availability === "paused") return ["paused", L.paused];
  return ["ready", L.ready];
}

function reasonName(code) {
  const r = (board.pause_reasons || []).find((x) => x.code === code);
  if (!r) return code || "";
  const lang = document.documentElement.lang || "lv";
  return r.name[lang] || r.name.en || code;
}

function pct(x) { return x === null || x === undefined ? "—" : `${Math.round(x * 100)} %`; }

function renderQueues() {
  const tbody = document.querySelector("#wb-queues tbody");
  tbody.replaceChildren(...board.queues.map((q) => h("tr", { "data-queue-id": q.id },
    h("td", { class: "name" }, q.name),
    h("td", { class: "waiting num" }, q.waiting),
    h("td", { class: "oldest num", "data-oldest": q.waiting ? q.oldest_wait_s : "" },
      q.waiting ? duration(q.oldest_wait_s) : "—"),
    h("td", { class: "ewt num" }, q.waiting ? duration(q.ewt_s) : "—"),
    h("td", { class: "answered num" }, q.answered_today),
    h("td", { class: "abandoned num" }, q.abandoned_today),
    h("td", { class: "sl num" }, pct(q.sl_today)),
    h("td", { class: "agents num" }, `${q.agents_ready} / ${q.agents_logged_in}`),
  )));
}

function actionsCell(a) {
  const td = h("td", { class: "actions" });
  const select = h("select", { "aria-label": L.reason, "data-role": "reason" },
    ...(board.pause_reasons || []).map((r) => h("option", { value: r.code }, reasonName(r.code))));
  const msg = h("span", { class: "field-error", hidden: true, role: "alert" });
  const run = async (path, body) => {
    msg.hidden = true;
    try { await api("POST", path, body); scheduleRefresh(); }
    catch (e) { msg.textContent = e.message; msg.hidden = false; }
  };
  td.append(select,
    h("button", { type: "button", class: "secondary", "data-action": "force-pause",
      onclick: () => run(`/api/v1/supervisor/agents/${a.user_id}/pause`, { reason: select.value }) }, L.pause),
    h("button", { type: "button", class: "danger", "data-action": "force-logout",
      onclick: () => { if (confirm(L.confirm_logout)) run(`/api/v1/supervisor/agents/${a.user_id}/logout`); } },
      L.logout),
    ...["listen", "whisper", "barge"].map((mode) => h("button", { type: "button",
      class: "secondary monitor", "data-action": `monitor-${mode}`,
      onclick: () => {
        const now = board.agents.find((x) => x.user_id === a.user_id) || a;
        if (!now.interaction_id || now.activity !== "on_call") {
          msg.textContent = L.no_call; msg.hidden = false; return;
        }
        run(`/api/v1/calls/${now.interaction_id}/monitor`, { mode });
      } }, L[mode])),
    msg);
  return td;
}

function queuesText(a) {
  const names = Object.fromEntries(board.queues.map((q) => [String(q.id), q.name]));
  return Object.entries(a.queues || {})
    .sort((x, y) => x[1] - y[1])
    .map(([qid, level]) => `${names[qid] || qid} (${level})`).join(", ");
}

function renderAgents() {
  const tbody = document.querySelector("#wb-agents tbody");
  const seen = new Set();
  for (const a of board.agents) {
    const id = String(a.user_id);
    seen.add(id);
    let tr = tbody.querySelector(`tr[data-agent-id="${id}"]`);
    if (!tr) {
      tr = h("tr", { "data-agent-id": id }, ...["name", "state", "reason", "since num", "calls num",
        "queues"].map((c) => h("td", { class: c })));
      tbody.append(tr);
    }
    if (!tr.querySelector("td.actions select")) {
      tr.querySelector("td.actions")?.remove();
      tr.append(actionsCell(a));
    }
    const [cls, label] = stateOf(a);
    tr.dataset.availability = a.availability;
    tr.dataset.activity = a.activity;
    tr.querySelector(".name").textContent = a.name;
    const notes = [];
    if (a.pending_pause) notes.push(L.pending_pause);
    if (a.pending_logout) notes.push(L.pending_logout);
    if (a.availability !== "logged_out" && a.desktop_connected === false) notes.push(L.desktop_closed);
    tr.querySelector(".state").replaceChildren(h("span", { class: `pill ${cls}` }, label),
      notes.length ? h("small", { class: "muted" }, " " + notes.join(", ")) : "");
    tr.querySelector(".reason").textContent = a.availability === "paused" || a.pending_pause
      ? reasonName(a.pause_reason || a.pending_pause) : "";
    tr.querySelector(".since").dataset.since = a.since;
    tr.querySelector(".calls").textContent = a.calls_today;
    tr.querySelector(".queues").textContent = queuesText(a);
    // keep the cell (the table keeps its shape); hide its controls for a logged-out agent
    tr.querySelector(".actions").classList.toggle("off", a.availability === "logged_out");
  }
  for (const tr of [...tbody.querySelectorAll("tr[data-agent-id]")]) {
    if (!seen.has(tr.dataset.agentId)) tr.remove();
  }
}

function renderTotals() {
  const counts = { waiting: 0, ready: 0, on_call: 0, wrap_up: 0, paused: 0 };
  for (const q of board.queues) counts.waiting += q.waiting;
  for (const a of board.agents) {
    const [cls] = stateOf(a);
    if (cls === "ringing") counts.ready += 1; // offered a call, not yet talking
    else if (cls in counts) counts[cls] += 1;
  }
  for (const [key, value] of Object.entries(counts)) {
    const el = document.querySelector(`#wb-totals [data-total="${key}"]`);
    if (el) el.textContent = value;
  }
}

function tick() {
  const now = serverNow();
  for (const el of document.querySelectorAll("[data-since]")) {
    const t = Date.parse(el.dataset.since);
    el.textContent = Number.isNaN(t) ? "" : duration((now - t) / 1000);
  }
  const at = Date.parse(board.at);
  for (const el of document.querySelectorAll("[data-oldest]")) {
    if (el.dataset.oldest === "") continue;
    el.textContent = duration(Number(el.dataset.oldest) + (now - at) / 1000);
  }
}

function apply(data, eventId) {
  board = data;
  skew = Date.parse(board.at) - Date.now();
  renderQueues();
  renderAgents();
  renderTotals();
  tick();
  root.dataset.updatedAt = board.at;
  if (eventId !== undefined && eventId !== null) root.dataset.lastEventId = String(eventId);
}

let latestEvent = null;
async function refresh() {
  if (inflight) { again = true; return; }
  inflight = true;
  const eventId = latestEvent;
  try { apply(await api("GET", "/api/v1/wallboard"), eventId); }
  catch (e) { console.warn("wallboard refresh failed", e); }
  finally {
    inflight = false;
    if (again) { again = false; refresh(); }
  }
}

function scheduleRefresh() {
  if (pending) return;
  pending = setTimeout(() => { pending = null; refresh(); }, 60);
}

function status(s) {
  const el = document.getElementById("wb-status");
  el.dataset.status = s;
  el.textContent = s === "open" ? L.live : L.offline;
}

apply(board, null);
setInterval(tick, 1000);
setInterval(refresh, 30000); // oldest wait / EWT drift between events; a cheap safety net
new Live({
  onEvent: (ev) => { latestEvent = ev.id; scheduleRefresh(); },
  onSnapshot: (msg) => { latestEvent = msg.id; scheduleRefresh(); },
  onStatus: status,
});
