// Preview dialing: the call button asks the API to dial and shows the outcome in place,
// so the agent keeps the contact on screen; then the call is followed (ringing, connected,
// ended with its talk time, or busy / no answer …). Without JavaScript the form posts
// normally.
import { follow } from "./js/call_progress.js";

const form = document.getElementById("call-form");
const status = document.getElementById("call-status");
const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? "";

async function call(event) {
  event.preventDefault();
  const button = document.getElementById("btn-call");
  if (button) button.disabled = true;
  status.className = "";
  status.textContent = status.dataset.calling;
  try {
    const response = await fetch(form.dataset.api, {
      method: "POST",
      headers: { "X-CSRF-Token": csrf, Accept: "application/json" },
      credentials: "same-origin",
    });
    const body = await response.json().catch(() => ({}));
    if (response.ok) {
      status.dataset.interaction = String(body.interaction_id ?? "");
      status.dataset.outcome = "dialing";
      follow(body.interaction_id, status);
    } else {
      const error = body.error ?? {};
      status.dataset.interaction = String(error.details?.interaction_id ?? "");
      status.dataset.outcome = error.code ?? "error";
      status.className = "field-error";
      status.setAttribute("role", "alert");
      const known = { "telephony-not-running": status.dataset.telephonyNotRunning,
                      "call-failed": status.dataset.callFailed };
      status.textContent = known[error.code] ?? error.message ?? response.statusText;
    }
    const attempts = document.getElementById("contact-attempts");
    if (attempts && status.dataset.interaction) {
      attempts.textContent = String(Number(attempts.textContent || "0") + 1);
    }
  } catch (err) {
    status.dataset.outcome = "network";
    status.className = "field-error";
    status.textContent = String(err);
  } finally {
    if (button) button.disabled = false;
    document.getElementById("result_code")?.focus();
  }
}

if (form && status && form.dataset.api) {
  form.addEventListener("submit", call);
}
