// Live monitoring log: new events matching the page's filters appear at the top, live.
import { Live } from "/static/js/live.js";
import { h, json } from "/static/js/util.js";

const L = json("sv-labels") || {};
const names = json("log-names") || { queues: {}, agents: {} };
const table = document.getElementById("event-log");
const tbody = table.querySelector("tbody");
const want = {
  type: table.dataset.type || "",
  queue: table.dataset.queueId || "",
  agent: table.dataset.agentId || "",
};
const limit = Number(table.dataset.limit || 200);

function matches(ev) {
  if (want.type && !want.type.split(",").includes(ev.type)) return false;
  if (want.queue && String(ev.queue_id ?? "") !== want.queue) return false;
  if (want.agent && String(ev.agent_id ?? "") !== want.agent) return false;
  return true;
}

function row(ev) {
  const data = ev.data && Object.keys(ev.data).length ? JSON.stringify(ev.data) : "";
  return h("tr", { "data-event-id": ev.id, "data-type": ev.type, class: "new" },
    h("td", {}, h("time", { datetime: ev.at }, ev.at.slice(0, 19).replace("T", " "))),
    h("td", {}, ev.type),
    h("td", {}, ev.queue_id != null ? names.queues[String(ev.queue_id)] || ev.queue_id : ""),
    h("td", {}, ev.agent_id != null ? names.agents[String(ev.agent_id)] || ev.agent_id : ""),
    h("td", {}, ev.interaction_id ?? ""),
    h("td", {}, h("code", { class: "details" }, data)));
}

function onEvent(ev) {
  if (!matches(ev)) return;
  if (tbody.querySelector(`tr[data-event-id="${ev.id}"]`)) return;
  tbody.prepend(row(ev));
  while (tbody.rows.length > limit) tbody.deleteRow(-1);
}

function status(s) {
  const el = document.getElementById("wb-status");
  el.dataset.status = s;
  el.textContent = s === "open" ? L.live : L.offline;
}

new Live({ onEvent, onStatus: status });
