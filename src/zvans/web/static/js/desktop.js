// The agent desktop: state bar, call panel, client card, request form, my statistics.
import { api, ApiError } from "./api.js";
import { Live } from "./live.js";
import { h, duration, dateTime, json, showError } from "./util.js";

const boot = json("boot");
const t = json("i18n");
const $ = (id) => document.getElementById(id);
const me = boot.user_id;
let state = boot.state;
let currentCall = null;   // interaction id shown in the call panel
let cardFor = null;       // interaction id the client card was opened for
const chosen = [];        // wrap-up codes in the form, kept in configured order

// --- state bar -----------------------------------------------------------------------
function renderState(s) {
  state = s;
  const pill = $("agent-state");
  const avail = t[s.availability] || s.availability;
  const act = s.availability === "logged_out" ? "" : ` — ${t[s.activity] || s.activity}`;
  let label = avail + act;
  if (s.availability === "paused" && s.pause_reason) {
    const r = boot.pause_reasons.find((p) => p.code === s.pause_reason);
    label = `${avail} (${r ? r.name : s.pause_reason})${act}`;
  }
  pill.textContent = label;
  pill.className = `pill ${s.activity !== "idle" ? s.activity : s.availability}`;
  pill.dataset.availability = s.availability;
  pill.dataset.activity = s.activity;
  $("state-since").textContent = s.since ? `${t.since} ${dateTime(s.since)}` : "";
  const pend = $("pending-pause");
  if (s.pending_pause) {
    const r = boot.pause_reasons.find((p) => p.code === s.pending_pause);
    pend.textContent = `${t.pending_pause} ${r ? r.name : s.pending_pause}`;
    pend.hidden = false;
  } else if (s.pending_logout) {
    pend.textContent = t.pending_logout;
    pend.hidden = false;
  } else pend.hidden = true;
  const out = s.availability === "logged_out";
  $("btn-login").hidden = !out;
  $("btn-ready").disabled = out || (s.availability === "ready" && !s.pending_pause);
  $("btn-pause").disabled = out;
  $("btn-leave").disabled = out;
  $("btn-wrapup-done").hidden = s.activity !== "wrap_up";
  if (document.activeElement !== $("ring-target")) $("ring-target").value = s.ring_target || "";
  renderCall(s);
}

async function refreshState() {
  try { renderState(await api("GET", "/api/v1/agents/me")); } catch (e) { /* shown on next action */ }
}

async function command(path, body) {
  showError($("state-error"), "");
  try { renderState(await api("POST", path, body)); }
  catch (e) { showError($("state-error"), e.message || t.error); }
}

$("btn-login").addEventListener("click", () => command("/api/v1/agents/me/login"));
$("btn-ready").addEventListener("click", () => command("/api/v1/agents/me/ready"));
$("btn-pause").addEventListener("click", () =>
  command("/api/v1/agents/me/pause", { reason: $("pause-reason").value }));
$("btn-leave").addEventListener("click", () => command("/api/v1/agents/me/logout"));
$("btn-wrapup-done").addEventListener("click", () => command("/api/v1/agents/me/wrapup-done"));

$("ring-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const err = $("err-ring_target");
  showError(err, "");
  $("ring-saved").textContent = "";
  try {
    renderState(await api("PUT", "/api/v1/agents/me/ring-target", { ring_target: $("ring-target").value }));
    $("ring-saved").textContent = t.ring_saved;
  } catch (e) { showError(err, e.message); }
});

// --- call panel ------------------------------------------------------------------------
function renderCall(s) {
  const onCall = s.interaction_id && (s.activity === "ringing" || s.activity === "on_call");
  $("no-call").hidden = !!onCall;
  $("call-info").hidden = !onCall;
  $("call-panel").classList.toggle("ringing", s.activity === "ringing");
  if (onCall) {
    currentCall = s.interaction_id;
    $("call-status").textContent = s.activity === "ringing" ? t.ringing_call : t.talking;
    $("btn-answer").hidden = s.activity !== "ringing";
    if (cardFor !== s.interaction_id) openCard(s.interaction_id);
  } else {
    currentCall = null;
  }
}

async function callAction(action) {
  showError($("call-error"), "");
  if (!currentCall) return;
  const body = { target: $("call-target") ? $("call-target").value : "",
                 attended: $("call-attended") ? $("call-attended").checked : false };
  try { await api("POST", `/api/v1/calls/${currentCall}/${action}`, body); await refreshState(); }
  catch (e) { showError($("call-error"), e.message); }
}
$("btn-answer").addEventListener("click", () => callAction("answer"));
$("btn-hangup").addEventListener("click", () => callAction("hangup"));
for (const b of document.querySelectorAll("[data-call-action]")) {
  b.addEventListener("click", () => callAction(b.dataset.callAction));
}

// --- client card -----------------------------------------------------------------------
async function openCard(interactionId) {
  cardFor = interactionId;
  let card;
  try { card = await api("GET", `/api/v1/customers/card?interaction_id=${interactionId}`); }
  catch (e) { cardFor = null; return; }
  $("client-card").hidden = false;
  $("call-caller").textContent = card.caller || t.unknown;
  $("card-caller").textContent = card.caller || t.unknown;
  $("card-name").textContent = card.customer_name || "—";
  $("card-queue").textContent = card.queue || "—";
  $("card-topic").textContent = card.ivr_topic || "—";
  $("card-wait").textContent = card.wait_s === null ? "—" : duration(card.wait_s);
  $("card-last-agent").textContent = card.last_agent || "—";
  const calls = $("card-calls").querySelector("tbody");
  calls.replaceChildren(...card.earlier_calls.map((c) => h("tr", {},
    h("td", {}, dateTime(c.started_at)), h("td", {}, c.queue), h("td", {}, c.agent),
    h("td", {}, c.outcome), h("td", {}, duration(c.duration_s)))));
  $("card-calls-none").hidden = card.earlier_calls.length > 0;
  const reqs = $("card-requests").querySelector("tbody");
  reqs.replaceChildren(...card.earlier_requests.map((r) => h("tr", {},
    h("td", {}, h("a", { href: `/requests/${r.id}` }, dateTime(r.created_at))),
    h("td", {}, r.wrapup_codes.map((c) => c.name).join(", ")),
    h("td", {}, r.agent), h("td", { class: "comment" }, r.comment))));
  $("card-requests-none").hidden = card.earlier_requests.length > 0;
  // Prefill the request form for this call (never overwrite what the agent typed).
  const form = $("request-form");
  if ($("req-interaction").value !== String(interactionId)) {
    form.reset();
    chosen.length = 0;
    renderChips();
    $("req-interaction").value = String(interactionId);
    $("req-phone").value = card.caller || "";
    $("req-name").value = card.customer_name || "";
    $("req-saved").hidden = true;
  }
}

// --- wrap-up type-ahead ----------------------------------------------------------------
const input = $("wrapup-input");
const list = $("wrapup-suggestions");
let active = -1;

function matches() {
  const q = input.value.trim().toLowerCase();
  // Names or codes that start with what was typed come first, then any containing it;
  // within each group the configured order is kept.
  const rank = (c) => {
    const name = c.name.toLowerCase(), code = c.code.toLowerCase();
    if (!q) return 0;
    if (name.startsWith(q) || code.startsWith(q)) return 0;
    if (name.split(/\s+/).some((w) => w.startsWith(q))) return 1;
    if (name.includes(q) || code.includes(q)) return 2;
    return -1;
  };
  return boot.wrapup_codes.filter((c) => !chosen.includes(c.id) && rank(c) >= 0)
    .map((c, i) => [rank(c), i, c]).sort((a, b) => a[0] - b[0] || a[1] - b[1])
    .map((x) => x[2]).slice(0, 12);
}

function renderSuggestions() {
  const items = matches();
  active = Math.min(active, items.length - 1);
  list.replaceChildren(...items.map((c, i) => h("li", {
    role: "option", "aria-selected": i === active ? "true" : "false", "data-code-id": c.id,
    onmousedown: (ev) => { ev.preventDefault(); choose(c.id); },
  }, `${c.name} (${c.code})`)));
  if (!items.length && input.value.trim()) list.append(h("li", { "aria-disabled": "true" }, t.no_match));
  list.hidden = false;
  input.setAttribute("aria-expanded", "true");
}

function choose(id) {
  if (!chosen.includes(id)) chosen.push(id);
  const order = new Map(boot.wrapup_codes.map((c, i) => [c.id, i]));
  chosen.sort((a, b) => order.get(a) - order.get(b));
  input.value = "";
  active = -1;
  renderChips();
  renderSuggestions();
}

function renderChips() {
  $("wrapup-chips").replaceChildren(...chosen.map((id) => {
    const c = boot.wrapup_codes.find((x) => x.id === id);
    return h("span", { class: "chip", "data-code-id": id }, c ? c.name : String(id),
      h("button", { type: "button", "aria-label": `${t.remove} ${c ? c.name : id}`,
        onclick: () => { chosen.splice(chosen.indexOf(id), 1); renderChips(); } }, "×"));
  }));
}

input.addEventListener("input", () => { active = 0; renderSuggestions(); });
input.addEventListener("focus", renderSuggestions);
input.addEventListener("blur", () => { list.hidden = true; input.setAttribute("aria-expanded", "false"); });
input.addEventListener("keydown", (ev) => {
  const items = matches();
  if (ev.key === "ArrowDown") { active = Math.min(active + 1, items.length - 1); renderSuggestions(); ev.preventDefault(); }
  else if (ev.key === "ArrowUp") { active = Math.max(active - 1, 0); renderSuggestions(); ev.preventDefault(); }
  else if (ev.key === "Enter") {
    ev.preventDefault();
    if (items.length) choose(items[Math.max(active, 0)].id);
  } else if (ev.key === "Backspace" && !input.value && chosen.length) { chosen.pop(); renderChips(); }
});

// --- request form ----------------------------------------------------------------------
const form = $("request-form");
function fieldErrors(errors) {
  for (const el of form.querySelectorAll("[data-error-for]")) showError(el, errors[el.dataset.errorFor]);
  for (const name of ["phone", "name", "comment"]) {
    const el = form.elements[name];
    el.classList.toggle("invalid", !!errors[name]);
    if (errors[name]) el.setAttribute("aria-invalid", "true"); else el.removeAttribute("aria-invalid");
  }
}

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  fieldErrors({});
  $("req-saved").hidden = true;
  const iid = $("req-interaction").value;
  const body = {
    phone: form.elements.phone.value, name: form.elements.name.value,
    comment: form.elements.comment.value, wrapup_codes: [...chosen],
    interaction_id: iid ? Number(iid) : null,
  };
  $("req-save").disabled = true;
  try {
    const saved = await api("POST", "/api/v1/requests", body);
    const link = h("a", { href: `/requests/${saved.id}`, id: "req-saved-link" }, `#${saved.id}`);
    $("req-saved").replaceChildren(`${t.saved} `, link);
    $("req-saved").hidden = false;
    form.reset();
    chosen.length = 0;
    renderChips();
    $("req-interaction").value = "";
    refreshStats();
  } catch (e) {
    if (e instanceof ApiError && e.details.errors) fieldErrors(e.details.errors);
    else fieldErrors({ [e instanceof ApiError && e.field ? e.field : "_form"]: e.message || t.error });
  } finally { $("req-save").disabled = false; }
});
form.addEventListener("reset", () => { chosen.length = 0; renderChips(); fieldErrors({}); });

// --- statistics ------------------------------------------------------------------------
function renderStats(s) {
  for (const el of document.querySelectorAll("#my-stats [data-stat]")) {
    const k = el.dataset.stat;
    const v = s[k];
    if (k === "pause_s") {
      const parts = Object.entries(v || {}).map(([code, secs]) => {
        const r = boot.pause_reasons.find((p) => p.code === code);
        return `${r ? r.name : code} ${duration(secs)}`;
      });
      el.textContent = parts.length ? parts.join(", ") : "—";
      continue;
    }
    el.textContent = k.endsWith("_s") ? (v === null ? "—" : duration(v)) : String(v ?? 0);
  }
}
async function refreshStats() {
  try { renderStats(await api("GET", "/api/v1/agents/me/stats")); } catch { /* keep old */ }
}

// --- live events -----------------------------------------------------------------------
new Live({
  onStatus: (s) => { $("live-status").textContent = s === "open" ? t.connected : t.reconnecting; },
  onSnapshot: (snap) => { if (snap.agent) refreshState(); },
  onEvent: (ev) => {
    if (ev.agent_id !== me) return;
    if ((ev.type === "offered" || ev.type === "answered") && ev.interaction_id) {
      if (cardFor !== ev.interaction_id) openCard(ev.interaction_id);
    }
    refreshState();
    if (["answered", "completed", "wrapup_done", "ring_no_answer", "offered", "agent_ready",
         "agent_logout"].includes(ev.type)) refreshStats();
  },
});

renderState(state);
renderStats(boot.stats);
renderChips();
