// Click-to-call on the agent desktop: POST /api/v1/calls/click-to-call; Zvans rings the
// agent's phone, then the number. Errors (bad number, no phone, no trunk) are shown as sent.
// Then the call is followed (GET /api/v1/calls/click-to-call/{id}, once a second, for an
// hour at most): ringing, connected, and how it ended (talk time, or busy, no answer …).
import { api } from "./api.js";

const $ = (id) => document.getElementById(id);
const t = JSON.parse($("ctc-i18n").textContent);

async function loadQueues() {
  try {
    const { items } = await api("GET", "/api/v1/calls/click-to-call/queues");
    for (const q of items) {
      const opt = document.createElement("option");
      opt.value = String(q.id);
      opt.textContent = q.caller_id ? `${q.name} (${q.caller_id})` : q.name;
      $("ctc-queue").append(opt);
    }
  } catch { /* the call button reports the error */ }
}

const POLL_MS = 1000;
const MAX_POLLS = 3600;
let following = 0;  // a new call stops following the previous one

function say(key, values) {
  let text = t[key] || t.failed;
  for (const [name, value] of Object.entries(values)) text = text.replace(`%(${name})s`, value);
  return text;
}

function talk(seconds) {
  const s = Math.round(seconds || 0);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function show(call) {
  const status = $("ctc-status");
  status.dataset.state = call.state;
  status.dataset.outcome = call.outcome || "";
  const values = { number: call.number, talk: talk(call.talk_s), reason: call.outcome || "" };
  if (call.state === "ended") {
    status.textContent = say(call.outcome, values);
  } else if (call.state === "ringing-customer") {
    status.textContent = say("ringing", values);
  } else if (call.state === "connected") {
    status.textContent = say("connected", values);
  } else {
    status.textContent = say("calling", values);
  }
}

async function follow(id) {
  const mine = ++following;
  for (let i = 0; i < MAX_POLLS && mine === following; i++) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    if (mine !== following) return;
    let call;
    try {
      call = await api("GET", `/api/v1/calls/click-to-call/${id}`);
    } catch { continue; }
    show(call);
    if (call.state === "ended") return;
  }
}

$("ctc-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const error = $("ctc-error");
  error.hidden = true;
  $("ctc-status").textContent = "";
  $("ctc-status").dataset.state = "";
  $("ctc-status").dataset.outcome = "";
  following++;
  $("ctc-call").disabled = true;
  try {
    const res = await api("POST", "/api/v1/calls/click-to-call",
                          { number: $("ctc-number").value, queue: Number($("ctc-queue").value) });
    show({ state: "dialing", number: res.number });
    follow(res.interaction_id);
  } catch (e) {
    error.textContent = e.message || t.error;
    error.hidden = false;
  } finally {
    $("ctc-call").disabled = false;
  }
});

loadQueues();
