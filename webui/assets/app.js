// The cartrack page: polls the scheduler's /v1/state, /v1/cluster, /v1/map, /v1/plans/deploy
// and /v1/autoscale about once a second (and /v1/report/utilisation every 10 s) and draws the
// groups (with scale controls), the running deployment's steps, autoscaling, the shared agents
// with the multiplexing report above them, and the fleet on a Leaflet map. Everything but the basemap's tiles is served by the scheduler; tiles come from
// the server /v1/page-config names, and the page works without them.
"use strict";

const GROUP_COLOURS = ["#1f6feb", "#2f9e44", "#e8590c", "#9c36b5", "#0c8599", "#c2255c"];
const MANHATTAN = [40.78, -73.97];
const POLL_MS = 1000;
// The utilisation report changes with each sample (every 10 s by default) and costs the
// scheduler a pass over every kept sample: asked less often.
const REPORT_POLL_MS = 10000;
// A scheduler that accepts connections but does not answer counts as gone after this long.
const REQUEST_TIMEOUT_MS = 4000;

const page = {
  state: null, cluster: null, map: null, report: null, config: null, groupColour: {},
  // Per view: when it last answered, and why its last fetch failed (null when it answered).
  views: {
    state: { ok: null, error: null }, cluster: { ok: null, error: null }, map: { ok: null, error: null },
    deploy: { ok: null, error: null }, autoscale: { ok: null, error: null },
    report: { ok: null, error: null },
  },
  tiles: { loaded: 0, failed: 0 },
  fitted: false,
};
window.cartrackPage = page; // for tests and the curious

const $ = (id) => document.getElementById(id);
const tokenInput = $("token");
tokenInput.value = localStorage.getItem("cartrack-token") || "";
tokenInput.addEventListener("change", () => localStorage.setItem("cartrack-token", tokenInput.value));

function el(tag, attrs, children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "text") node.textContent = v; else node.setAttribute(k, v);
  }
  for (const child of children || []) node.appendChild(child);
  return node;
}

function colourOf(group) {
  if (!(group in page.groupColour)) {
    page.groupColour[group] = GROUP_COLOURS[Object.keys(page.groupColour).length % GROUP_COLOURS.length];
  }
  return page.groupColour[group];
}

// Task names are <group>-<index>-<task>; the group is what precedes the index.
function groupOfTask(name) {
  const m = /^(.*)-\d+-[^-]+$/.exec(name);
  return m ? m[1] : name;
}

const clock = (ms) => new Date(ms).toLocaleTimeString();
const secondsSince = (ms) => Math.max(0, Math.round((Date.now() - ms) / 1000));

// What a failed fetch says: the API's {"error"} body when there is one.
async function failure(response) {
  const text = await response.text().catch(() => "");
  let detail = text;
  try { detail = JSON.parse(text).error || text; } catch (_) { /* not JSON */ }
  return `HTTP ${response.status}${detail ? `: ${detail}` : ""}`;
}

function unanswered(err) {
  return err && err.name === "TimeoutError"
    ? `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`
    : "no answer (the scheduler is stopped or unreachable)";
}

// The token field's value, sent on every request: a scheduler started with --read-token
// needs it on reads too.
function authHeaders() {
  return tokenInput.value ? { authorization: `Bearer ${tokenInput.value}` } : {};
}

async function getJson(path) {
  let response;
  try {
    response = await fetch(path, { cache: "no-store", headers: authHeaders(), signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  } catch (err) {
    throw new Error(unanswered(err));
  }
  if (response.status === 401) throw new Error("the scheduler needs its token to show this: enter it above");
  if (!response.ok) throw new Error(await failure(response));
  return response.json();
}

function say(text, kind) {
  const message = $("message");
  message.textContent = text;
  message.className = kind;
}

async function scale(group, count, row) {
  const headers = { "content-type": "application/json", ...authHeaders() };
  say(`Scaling ${group} to ${count}…`, "pending");
  let response;
  try {
    response = await fetch(`/v1/groups/${encodeURIComponent(group)}/count`, {
      method: "PUT", headers, body: JSON.stringify({ count }), signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (err) {
    say(`Scaling ${group} to ${count} failed: ${unanswered(err)}.`, "error");
    return;
  }
  if (response.status === 401) {
    say("The scheduler needs its API token to scale: enter it above.", "error");
  } else if (!response.ok) {
    say(`Scaling ${group} to ${count} failed: ${await failure(response)}`, "error");
  } else {
    // Shown at once, so a second click counts from here rather than from the last poll.
    row.dataset.count = count;
    row.querySelector(".count").textContent = count;
    say(`${group}: desired count set to ${count}.`, "ok");
  }
}

// Rows are updated in place, not rebuilt, so a click never lands on a replaced button.
function drawGroups(state) {
  $("framework").textContent = state.framework_id ? `framework ${state.framework_id}` : "not subscribed yet";
  const body = $("groups").querySelector("tbody");
  const seen = new Set();
  for (const g of state.groups) {
    seen.add(g.name);
    let row = body.querySelector(`tr[data-group="${CSS.escape(g.name)}"]`);
    if (!row) {
      const minus = el("button", { type: "button", text: "−", title: `scale ${g.name} down`, "aria-label": `scale ${g.name} down`, "data-scale": `${g.name}:-1` });
      const plus = el("button", { type: "button", text: "+", title: `scale ${g.name} up`, "aria-label": `scale ${g.name} up`, "data-scale": `${g.name}:+1` });
      const name = el("td", {}, [el("span", { class: "task", style: `background:${colourOf(g.name)}`, text: g.name })]);
      row = el("tr", { "data-group": g.name }, [
        name, el("td", { class: "desired" }, [minus, el("span", { class: "count" }), plus]),
        el("td", { class: "running" }), el("td", { class: "staging" }), el("td", { class: "failed" }),
      ]);
      minus.onclick = () => scale(g.name, Math.max(0, Number(row.dataset.count) - 1), row);
      plus.onclick = () => scale(g.name, Number(row.dataset.count) + 1, row);
      body.appendChild(row);
    }
    row.dataset.count = g.count;
    row.querySelector(".count").textContent = g.count;
    row.querySelector(".running").textContent = g.running;
    row.querySelector(".staging").textContent = g.staging;
    row.querySelector(".failed").textContent = g.failed;
  }
  for (const row of [...body.querySelectorAll("tr")]) {
    if (!seen.has(row.dataset.group)) row.remove();
  }
}

// The running deployment (a rolling update, or an abort's rollback) with a table of steps per
// group it changes; hidden when none runs. While uninstalling, the deploy plan is the
// uninstall plan, which has no deployment.
function drawDeployment(plan) {
  const d = plan.deployment;
  const panel = $("deploy-panel");
  panel.hidden = !d || d.completed_ms != null;
  if (panel.hidden) return;
  $("deploy-summary").textContent = `${d.rollback ? "rollback" : "version"} ${d.from ?? "–"} → ${d.to} · ${plan.status}`
    + (d.paused ? " · paused" : "");
  const changing = new Set(d.groups || []);
  $("deploy-phases").replaceChildren(...plan.phases.filter((p) => changing.has(p.name)).map((p) => el("table", { "data-phase": p.name }, [
    el("caption", { text: `${p.name} · ${p.status}` }),
    el("tbody", {}, p.steps.map((s) => el("tr", { "data-step": s.name, class: s.status.toLowerCase() }, [
      el("td", { text: s.name }),
      el("td", { class: "status", text: s.status }),
      el("td", { text: s.version == null ? "" : `v${s.version}` }),
      // A complete step's message is how an earlier pod of the slot ended: no longer news.
      el("td", { class: "why", text: s.status === "COMPLETE" ? "" : s.message || "" }),
    ]))),
  ])));
}

// Why an autoscaled group's count stays, in words (the API's `hold`).
function holdText(g) {
  const h = g.hold;
  if (g.pinned) return "paused: count set by an operator";
  if (!h) return "no reading yet";
  const s = (ms) => Math.ceil(ms / 1000);
  switch (h.kind) {
    case "steady": return "steady";
    case "deploying": return "waiting for the deployment";
    case "no_metric": return "no pod answered";
    case "partial_metric": return `${h.reporting} of ${h.asked} pods answered`;
    case "starting": return `pods starting (${h.running} of ${h.desired})`;
    case "waiting": return `${h.wanted} wanted, in ${s(h.remaining_ms)} s if it lasts`;
    case "cooling_down": return `cooling down, ${s(h.remaining_ms)} s`;
    case "at_max": return "more wanted, at max";
    default: return h.kind;
  }
}

// Autoscaled groups (pods, range, last reading, why the count stays) and the last five
// decisions; hidden when no group is autoscaled.
function drawAutoscale(view) {
  const panel = $("autoscale-panel");
  panel.hidden = view.groups.length === 0;
  if (panel.hidden) return;
  $("autoscale").querySelector("tbody").replaceChildren(...view.groups.map((g) => el("tr", { "data-group": g.group }, [
    el("td", { text: g.group }),
    el("td", { class: "pods", text: `${g.running}/${g.desired}` }),
    el("td", { text: `${g.min}–${g.max}` }),
    el("td", { class: "load", text: g.value == null ? "–" : `${g.metric} ${Math.round(g.value)} (${g.target}/pod)` }),
    el("td", { class: "status", text: holdText(g) }),
  ])));
  $("autoscale-decisions").replaceChildren(...view.decisions.slice(0, 5).map((d) => el("li", {
    text: `${clock(d.at_ms)} ${d.group} ${d.from} → ${d.to}: ${d.reason}`,
  })));
}

const round = (n) => +n.toFixed(2);

function bar(label, used, total) {
  const pct = total > 0 ? Math.min(100, (100 * used) / total) : 0;
  return el("div", {}, [
    el("small", { text: `${label} ${round(used)} / ${round(total)}` }),
    el("div", { class: "bar" }, [el("span", { style: `width:${pct}%` })]),
  ]);
}

// The scheduler sends tasks and other frameworks already in natural order, one summary per
// other framework.
function drawAgents(cluster) {
  $("agents").replaceChildren(...cluster.agents.map((a) => el("div", {
    class: a.active ? "agent" : "agent down", "data-agent-id": a.id,
  }, [
    el("h3", { text: `${a.hostname} · ${a.id}` }),
    bar("cpus", a.used.cpus, a.resources.cpus),
    bar("mem MB", a.used.mem, a.resources.mem),
    el("div", { class: "tasks" }, [
      ...a.tasks.map((t) => el("span", {
        class: "task", "data-task-id": t.id, style: `background:${colourOf(groupOfTask(t.name))}`,
        title: `${t.name} ${t.state}`, text: t.name,
      })),
      ...a.other_frameworks.map((f) => el("span", {
        class: "task other", "data-framework-id": f.framework_id,
        title: `${f.framework} (${f.framework_id}): ${f.tasks} task${f.tasks === 1 ? "" : "s"} on this agent`,
        text: `${f.framework} · ${f.tasks} task${f.tasks === 1 ? "" : "s"} · ${round(f.resources.cpus)} cpu, ${round(f.resources.mem)} MB`,
      })),
    ]),
  ])));
}

// The multiplexing report: agents needed siloed vs multiplexed vs there, average utilisation,
// and per service a sparkline of its cpus over time against the cluster's capacity.
function sparkline(values, max, colour) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 100 20");
  svg.setAttribute("preserveAspectRatio", "none");
  const line = document.createElementNS(ns, "polyline");
  // One sample is a level line across.
  const points = values.length === 1 ? [values[0], values[0]] : values;
  const step = points.length > 1 ? 100 / (points.length - 1) : 0;
  line.setAttribute("points", points.map((v, i) => `${round(i * step)},${round(19 - (18 * v) / (max || 1))}`).join(" "));
  line.setAttribute("fill", "none");
  line.setAttribute("stroke", colour);
  line.setAttribute("stroke-width", "1.5");
  line.setAttribute("vector-effect", "non-scaling-stroke");
  svg.appendChild(line);
  return svg;
}

function drawUtilisation(r) {
  const number = (key, value) => el("span", { class: "number", "data-number": key, text: String(value) });
  const text = (t) => document.createTextNode(t);
  const pct = (ratio) => `${(100 * ratio).toFixed(1)}%`;
  if (!r.period.samples) {
    $("utilisation-summary").replaceChildren(text("No sample of the cluster yet."));
    $("utilisation-services").replaceChildren();
    return;
  }
  $("utilisation-summary").replaceChildren(
    text("Agents needed siloed "), number("siloed", r.siloed_agents),
    text(", multiplexed "), number("multiplexed", r.multiplexed_agents),
    text(", in the cluster "), number("actual", r.cluster.agents),
    text(" · average use cpus "), number("cpus", pct(r.cluster.avg_utilisation.cpus)),
    text(", mem "), number("mem", pct(r.cluster.avg_utilisation.mem)),
  );
  // Groups in their colour, other frameworks grey, as on the agents below.
  const capacity = Math.max(0, ...r.series.map((p) => p.capacity.cpus));
  $("utilisation-services").replaceChildren(...r.services.map((s, i) => {
    const group = s.kind === "cartrack-group";
    const colour = group ? colourOf(s.name) : "#9aa3b2";
    return el("div", {
      class: "util-service", "data-service": s.name, "data-kind": s.kind,
      title: `${s.name} (${s.kind}): peak ${round(s.peak.cpus)} cpu, ${round(s.peak.mem)} MB; average ${round(s.avg.cpus)} cpu, ${round(s.avg.mem)} MB; ${s.siloed_agents} agent(s) on its own. The line: its cpus over time, against the cluster's.`,
    }, [
      el("span", {}, [
        el("span", { class: group ? "task" : "task other", style: group ? `background:${colour}` : "", text: s.name }),
        text(` peak ${round(s.peak.cpus)} cpu · ${s.siloed_agents} siloed`),
      ]),
      sparkline(r.series.map((p) => p.allocated[i].cpus), capacity, colour),
    ]);
  }));
}

// ---- the map ----

const leaflet = L.map("map", { zoomSnap: 0.5 }).setView(MANHATTAN, 12);
// Panes fix the drawing order whatever order the layers' items arrive in.
for (const [name, zIndex] of [["traffic", 410], ["predictions", 420], ["vehicles", 430]]) {
  leaflet.createPane(name).style.zIndex = zIndex;
}
const layers = { traffic: L.layerGroup(), predictions: L.layerGroup(), vehicles: L.layerGroup() };
for (const layer of Object.values(layers)) layer.addTo(leaflet);
L.control.layers(null, {
  '<span class="dot now"></span> vehicles': layers.vehicles,
  '<span class="dot predicted"></span> 30 s ahead': layers.predictions,
  '<span class="heat"></span> tile traffic': layers.traffic,
}, { collapsed: false }).addTo(leaflet);
L.control.scale({ imperial: false }).addTo(leaflet);
const FitControl = L.Control.extend({
  onAdd() {
    const button = L.DomUtil.create("button", "fit-fleet");
    button.type = "button";
    button.textContent = "Fit fleet";
    button.title = "zoom to every vehicle";
    L.DomEvent.disableClickPropagation(button);
    button.onclick = fitFleet;
    return button;
  },
});
new FitControl({ position: "topleft" }).addTo(leaflet);
page.leaflet = leaflet;
// Leaflet follows window resizes itself; this also catches the layout around the map moving.
new ResizeObserver(() => leaflet.invalidateSize()).observe($("map"));

// Drawn items by id, moved in place each refresh.
const drawn = { vehicles: new Map(), predictions: new Map(), tiles: new Map() };

// Tags a vector layer's SVG element with data-* attributes (for tests and the inspector);
// Leaflet recreates the element when a layer is toggled, hence on every "add".
function tagged(layer, data) {
  layer.cartrackData = data;
  const apply = () => { const node = layer.getElement(); if (node) Object.assign(node.dataset, layer.cartrackData); };
  if (!layer.cartrackTagged) { layer.on("add", apply); layer.cartrackTagged = true; }
  apply();
  return layer;
}

// Adds, moves or removes the items of one layer: `items` is [id, create, update] per item.
function sync(kind, layer, items) {
  const seen = new Set();
  for (const [id, create, update] of items) {
    seen.add(id);
    let item = drawn[kind].get(id);
    if (!item) {
      item = create();
      drawn[kind].set(id, item);
      item.addTo(layer);
    }
    update(item);
  }
  for (const [id, item] of drawn[kind]) {
    if (!seen.has(id)) { layer.removeLayer(item); drawn[kind].delete(id); }
  }
}

function retitle(layer, text) {
  if (layer.cartrackTitle !== text) { layer.setTooltipContent(text); layer.cartrackTitle = text; }
}

// Geohash cell -> [[minLat, minLon], [maxLat, maxLon]].
function geohashBounds(hash) {
  const alphabet = "0123456789bcdefghjkmnpqrstuvwxyz";
  const lat = [-90, 90], lon = [-180, 180];
  let even = true;
  for (const ch of hash) {
    const bits = alphabet.indexOf(ch);
    if (bits < 0) return null;
    for (let b = 4; b >= 0; b--) {
      const range = even ? lon : lat;
      const mid = (range[0] + range[1]) / 2;
      if ((bits >> b) & 1) range[0] = mid; else range[1] = mid;
      even = !even;
    }
  }
  return [[lat[0], lon[0]], [lat[1], lon[1]]];
}

const located = (p) => p && Number.isFinite(p.lat) && Number.isFinite(p.lon);
const kmh = (mps) => ((mps || 0) * 3.6).toFixed(0);

function fitFleet() {
  const points = [...drawn.vehicles.values()].map((m) => m.getLatLng());
  if (points.length) leaflet.fitBounds(L.latLngBounds(points), { padding: [30, 30], maxZoom: 16 });
}

function drawMap(view) {
  const vehicles = view.vehicles.filter((v) => located(v.location));
  const busiest = Math.max(1, ...view.tiles.map((t) => t.vehicles || 0));
  const cells = view.tiles.map((t) => [t, geohashBounds(t.tile || "")]).filter(([, cell]) => cell);
  sync("tiles", layers.traffic, cells.map(([t, cell]) => [t.tile, () => tagged(L.rectangle(cell, {
    pane: "traffic", stroke: false, fillColor: "rgb(220,53,69)", className: "tile-traffic",
  }), { tile: t.tile }).bindTooltip(""), (rect) => {
    rect.setStyle({ fillOpacity: 0.1 + (0.5 * (t.vehicles || 0)) / busiest });
    retitle(rect, `${t.tile}: ${t.vehicles} vehicles, ${kmh(t.mean_speed_mps)} km/h`);
  }]));
  const predicted = (v) => {
    const p = v.predictions && (v.predictions.kalman || v.predictions.dead_reckoning);
    return located(p) ? p : null;
  };
  sync("predictions", layers.predictions, vehicles.filter(predicted).map((v) => [v.vehicle_id, () => L.featureGroup([
    L.polyline([[0, 0], [0, 0]], { pane: "predictions", color: "#e8590c", weight: 1, opacity: 0.7, interactive: false }),
    tagged(L.circleMarker([0, 0], { pane: "predictions", radius: 3, color: "#e8590c", weight: 1.5, fill: false, className: "predicted", interactive: false }), {}),
  ]), (group) => {
    const p = predicted(v);
    const [line, mark] = group.getLayers();
    line.setLatLngs([[v.location.lat, v.location.lon], [p.lat, p.lon]]);
    tagged(mark.setLatLng([p.lat, p.lon]), { vehicleId: v.vehicle_id, lat: p.lat, lon: p.lon });
  }]));
  sync("vehicles", layers.vehicles, vehicles.map((v) => [v.vehicle_id, () => L.circleMarker([0, 0], {
    pane: "vehicles", radius: 5, color: "#fff", weight: 1, fillColor: "#1f6feb", fillOpacity: 1, className: "vehicle",
  }).bindTooltip(""), (mark) => {
    tagged(mark.setLatLng([v.location.lat, v.location.lon]), { vehicleId: v.vehicle_id, lat: v.location.lat, lon: v.location.lon });
    retitle(mark, `${v.vehicle_id} ${kmh(v.speed_mps)} km/h`);
  }]));
  // Fit once, to the first fleet seen; after that the operator's zoom and pan are kept.
  if (!page.fitted && vehicles.length) { fitFleet(); page.fitted = true; }
  const silent = (view.sources || []).filter((s) => s.error).length;
  $("fleet-count").textContent = `${vehicles.length} vehicles, ${view.tiles.length} busy tiles`
    + (silent ? ` · ${silent} of ${view.sources.length} processors not answering` : "");
}

function setBasemap(basemap) {
  if (!basemap) {
    $("map-note").textContent = "No basemap: the scheduler runs with an empty --map-tiles.";
    return;
  }
  const host = (() => { try { return new URL(basemap.tiles.replace(/\{[^}]*\}/g, "0")).host; } catch (_) { return basemap.tiles; } })();
  const tiles = L.tileLayer(basemap.tiles, { maxZoom: 19, attribution: basemap.attribution });
  const note = () => {
    $("map-note").textContent = page.tiles.loaded === 0 && page.tiles.failed > 0
      ? `Basemap unavailable: no map tile loaded from ${host} (offline, or blocked?). The fleet is drawn without it.`
      : "";
  };
  tiles.on("tileload", () => { page.tiles.loaded++; note(); });
  tiles.on("tileerror", () => { page.tiles.failed++; note(); });
  tiles.addTo(leaflet);
}

// ---- staleness ----

function drawStatus() {
  const state = page.views.state;
  $("updated").textContent = state.ok === null ? "not updated yet" : `updated ${secondsSince(state.ok)} s ago`;
  const banner = $("banner");
  if (state.error) {
    banner.hidden = false;
    banner.textContent = `The scheduler is not answering: ${state.error}. `
      + (state.ok === null ? "Nothing has been received yet. " : `Everything below is as of ${clock(state.ok)} (${secondsSince(state.ok)} s ago) and may be stale. `)
      + "Retrying every second.";
  } else {
    banner.hidden = true;
  }
  // With the scheduler gone the banner says why; otherwise a view failing alone (the master
  // down, say) says why itself.
  for (const section of document.querySelectorAll("section[data-view]")) {
    const view = page.views[section.dataset.view];
    const why = state.error ? "" : `: ${view.error}`;
    section.classList.toggle("stale", !!view.error);
    section.querySelector(".view-age").textContent = !view.error ? ""
      : view.ok === null ? `not loaded${why}` : `stale, as of ${clock(view.ok)}${why}`;
  }
}

async function refresh() {
  if (!page.config) {
    try {
      page.config = await getJson("/v1/page-config");
      setBasemap(page.config.basemap);
    } catch (_) { /* retried on the next poll; the banner tells why */ }
  }
  const views = {
    state: ["/v1/state", drawGroups], cluster: ["/v1/cluster", drawAgents], map: ["/v1/map", drawMap],
    deploy: ["/v1/plans/deploy", drawDeployment], autoscale: ["/v1/autoscale", drawAutoscale],
  };
  const report = page.views.report;
  if (report.ok === null || report.error || Date.now() - report.ok >= REPORT_POLL_MS) {
    views.report = ["/v1/report/utilisation", drawUtilisation];
  }
  const names = Object.keys(views);
  const answers = await Promise.allSettled(names.map((name) => getJson(views[name][0])));
  answers.forEach((answer, i) => {
    const name = names[i], view = page.views[name], [path, draw] = views[name];
    if (answer.status === "rejected") {
      view.error = answer.reason.message;
      return;
    }
    page[name] = answer.value;
    try {
      draw(answer.value);
      view.ok = Date.now();
      view.error = null;
    } catch (err) {
      view.error = `cannot draw ${path}: ${err.message}`;
    }
  });
  drawStatus();
}

// One refresh at a time, the next a second after the last ended, whatever happened in it.
async function poll() {
  try { await refresh(); } finally { setTimeout(poll, POLL_MS); }
}

poll();
// The age ticks even while a fetch hangs.
setInterval(drawStatus, 1000);
