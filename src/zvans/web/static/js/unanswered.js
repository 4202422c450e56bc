// "Call back" asks the server to place the call; until telephony is connected the server
// says so, and the message is shown above the table. New rows appear on their own.
import { api } from "./api.js";
import { Live } from "./live.js";
import { showError } from "./util.js";

for (const b of document.querySelectorAll("[data-callback]")) {
  b.addEventListener("click", async () => {
    showError(document.getElementById("callback-error"), "");
    try { await api("POST", `/api/v1/unanswered/${b.dataset.callback}/callback`); location.reload(); }
    catch (e) { showError(document.getElementById("callback-error"), e.message); }
  });
}

// Rows resolve by themselves (the caller called again): reload quietly when calls end.
let timer = null;
new Live({
  onEvent: (ev) => {
    if (!["abandoned", "answered", "voicemail_left", "ivr_abandoned", "out_of_hours", "callback_requested"].includes(ev.type)) return;
    clearTimeout(timer);
    timer = setTimeout(() => location.reload(), 800);
  },
});
