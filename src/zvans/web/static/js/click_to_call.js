// Click-to-call on the agent desktop: POST /api/v1/calls/click-to-call; Zvans rings the
// agent's phone, then the number. Errors (bad number, no phone, no trunk) are shown as sent.
// Then the call is followed (call_progress.js): ringing, connected, and how it ended (talk
// time, or busy, no answer …).
import { api } from "./api.js";
import { follow, show, stop } from "./call_progress.js";

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

$("ctc-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const error = $("ctc-error");
  error.hidden = true;
  $("ctc-status").textContent = "";
  $("ctc-status").dataset.state = "";
  $("ctc-status").dataset.outcome = "";
  stop();
  $("ctc-call").disabled = true;
  try {
    const res = await api("POST", "/api/v1/calls/click-to-call",
                          { number: $("ctc-number").value, queue: Number($("ctc-queue").value) });
    show($("ctc-status"), { state: "dialing", number: res.number });
    follow(res.interaction_id, $("ctc-status"));
  } catch (e) {
    error.textContent = e.message || t.error;
    error.hidden = false;
  } finally {
    $("ctc-call").disabled = false;
  }
});

loadQueues();
