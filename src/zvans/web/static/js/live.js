// One WebSocket per tab. Remembers the last event id; on reconnect asks the server to
// replay from there (the server sends a fresh snapshot if we fell too far behind).
export class Live {
  constructor({ onEvent, onSnapshot, onStatus }) {
    this.lastId = null;
    this.onEvent = onEvent || (() => {});
    this.onSnapshot = onSnapshot || (() => {});
    this.onStatus = onStatus || (() => {});
    this.delay = 500;
    this.stopped = false;
    this.connect();
  }

  connect() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const q = this.lastId === null ? "" : `?last_id=${this.lastId}`;
    const ws = new WebSocket(`${proto}//${location.host}/ws${q}`);
    this.ws = ws;
    ws.addEventListener("open", () => { this.delay = 500; this.onStatus("open"); });
    ws.addEventListener("message", (m) => {
      let msg;
      try { msg = JSON.parse(m.data); } catch { return; }
      if (msg.kind === "snapshot") { this.lastId = msg.id; this.onSnapshot(msg); }
      else if (msg.kind === "event") {
        if (this.lastId !== null && msg.id <= this.lastId) return;
        this.lastId = msg.id;
        this.onEvent(msg.event);
      } else if (msg.kind === "error" && msg.code === "login-required") {
        this.stopped = true;
        location.assign("/login?next=" + encodeURIComponent(location.pathname));
      }
    });
    ws.addEventListener("close", () => {
      this.onStatus("closed");
      if (this.stopped) return;
      setTimeout(() => this.connect(), this.delay);
      this.delay = Math.min(this.delay * 2, 10000);
    });
  }

  close() { this.stopped = true; this.ws?.close(); }
}
