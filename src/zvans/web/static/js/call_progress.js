// Following an outgoing call Zvans places (the desktop's click-to-call, a campaign's call
// button): GET /api/v1/calls/click-to-call/{id} once a second until the call has ended (an
// hour at most), shown as a sentence in the page's language (#call-progress-i18n) with the
// state and the outcome in data-state / data-outcome.
import { api } from "./api.js";

const POLL_MS = 1000;
const MAX_POLLS = 3600;
let texts = null;
let following = 0;  // following a new call stops following the previous one

function say(key, values) {
  texts ??= JSON.parse(document.getElementById("call-progress-i18n").textContent);
  let text = texts[key] || texts.failed;
  for (const [name, value] of Object.entries(values)) text = text.replace(`%(${name})s`, value);
  return text;
}

function talk(seconds) {
  const s = Math.round(seconds || 0);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

export function show(element, call) {
  element.dataset.state = call.state;
  element.dataset.outcome = call.outcome || "";
  const values = { number: call.number, talk: talk(call.talk_s), reason: call.outcome || "" };
  const key = { ended: call.outcome, "ringing-customer": "ringing", connected: "connected" };
  element.textContent = say(key[call.state] || "calling", values);
}

export function stop() {
  following++;
}

export async function follow(id, element) {
  const mine = ++following;
  for (let i = 0; i < MAX_POLLS && mine === following; i++) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    if (mine !== following) return;
    let call;
    try {
      call = await api("GET", `/api/v1/calls/click-to-call/${id}`);
    } catch { continue; }
    show(element, call);
    if (call.state === "ended") return;
  }
}
