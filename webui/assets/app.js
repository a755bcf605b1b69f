// The cartrack page: polls the scheduler's /v1/state, /v1/cluster and /v1/map once a second
// and draws the groups (with scale controls), the shared agents, and the fleet on a map.
// Everything is local: no external scripts, fonts or map tiles.
"use strict";

const GROUP_COLOURS = ["#1f6feb", "#2f9e44", "#e8590c", "#9c36b5", "#0c8599", "#c2255c"];
const MANHATTAN = { minLat: 40.70, maxLat: 40.88, minLon: -74.02, maxLon: -73.91 };
const page = { state: null, cluster: null, map: null, groupColour: {} };
window.cartrackPage = page; // for tests and the curious

const $ = (id) => document.getElementById(id);
const tokenInput = $("token");
tokenInput.value = localStorage.getItem("cartrack-token") || "";
tokenInput.addEventListener("change", () => localStorage.setItem("cartrack-token", tokenInput.value));

function el(tag, attrs, children) {
  const node = tag.startsWith("svg:")
    ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4))
    : document.createElement(tag);
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

async function getJson(path) {
  const response = await fetch(path, { cache: "no-store" });
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

async function scale(group, count) {
  const headers = { "content-type": "application/json" };
  if (tokenInput.value) headers.authorization = `Bearer ${tokenInput.value}`;
  const response = await fetch(`/v1/groups/${encodeURIComponent(group)}/count`, {
    method: "PUT", headers, body: JSON.stringify({ count }),
  });
  $("message").textContent = response.status === 401
    ? "The scheduler needs its API token to scale: enter it above."
    : response.ok ? "" : `Scaling ${group} failed: ${response.status} ${await response.text()}`;
  refresh();
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
      const minus = el("button", { text: "−", title: `scale ${g.name} down`, "data-scale": `${g.name}:-1` });
      const plus = el("button", { text: "+", title: `scale ${g.name} up`, "data-scale": `${g.name}:+1` });
      minus.onclick = () => scale(g.name, Math.max(0, Number(row.dataset.count) - 1));
      plus.onclick = () => scale(g.name, Number(row.dataset.count) + 1);
      const name = el("td", {}, [el("span", { class: "task", style: `background:${colourOf(g.name)}`, text: g.name })]);
      row = el("tr", { "data-group": g.name }, [
        name, el("td", { class: "desired" }), el("td", { class: "running" }),
        el("td", { class: "staging" }), el("td", { class: "failed" }), el("td", {}, [minus, plus]),
      ]);
      body.appendChild(row);
    }
    row.dataset.count = g.count;
    row.querySelector(".desired").textContent = g.count;
    row.querySelector(".running").textContent = g.running;
    row.querySelector(".staging").textContent = g.staging;
    row.querySelector(".failed").textContent = g.failed;
  }
  for (const row of [...body.querySelectorAll("tr")]) {
    if (!seen.has(row.dataset.group)) row.remove();
  }
}

function bar(label, used, total) {
  const pct = total > 0 ? Math.min(100, (100 * used) / total) : 0;
  return el("div", {}, [
    el("small", { text: `${label} ${+used.toFixed(2)} / ${+total.toFixed(2)}` }),
    el("div", { class: "bar" }, [el("span", { style: `width:${pct}%` })]),
  ]);
}

function drawAgents(cluster) {
  $("agents").replaceChildren(...cluster.agents.map((a) => el("div", {
    class: a.active ? "agent" : "agent down", "data-agent-id": a.id,
  }, [
    el("h3", { text: `${a.hostname} · ${a.id}` }),
    bar("cpus", a.used.cpus, a.resources.cpus),
    bar("mem MB", a.used.mem, a.resources.mem),
    el("div", { class: "tasks" }, a.tasks.map((t) => t.ours
      ? el("span", { class: "task", "data-task-id": t.id, style: `background:${colourOf(groupOfTask(t.name))}`, title: `${t.name} ${t.state}`, text: t.name })
      : el("span", { class: "task other", "data-task-id": t.id, title: `${t.framework}: ${t.name}`, text: `${t.framework} (${t.resources.cpus} cpu)` }))),
  ])));
}

// Geohash cell -> [minLat, minLon, maxLat, maxLon].
function geohashBounds(hash) {
  const alphabet = "0123456789bcdefghjkmnpqrstuvwxyz";
  let lat = [-90, 90], lon = [-180, 180], even = true;
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
  return [lat[0], lon[0], lat[1], lon[1]];
}

function boundsOf(vehicles) {
  if (vehicles.length === 0) return MANHATTAN;
  const lats = vehicles.map((v) => v.location.lat), lons = vehicles.map((v) => v.location.lon);
  const b = { minLat: Math.min(...lats), maxLat: Math.max(...lats), minLon: Math.min(...lons), maxLon: Math.max(...lons) };
  const padLat = Math.max(0.005, (b.maxLat - b.minLat) * 0.08), padLon = Math.max(0.005, (b.maxLon - b.minLon) * 0.08);
  return { minLat: b.minLat - padLat, maxLat: b.maxLat + padLat, minLon: b.minLon - padLon, maxLon: b.maxLon + padLon };
}

function drawMap(map) {
  const svg = $("map");
  const vehicles = map.vehicles.filter((v) => v.location);
  const b = boundsOf(vehicles);
  const x = (lon) => ((lon - b.minLon) / (b.maxLon - b.minLon)) * 800;
  const y = (lat) => 600 - ((lat - b.minLat) / (b.maxLat - b.minLat)) * 600;
  const busiest = Math.max(1, ...map.tiles.map((t) => t.vehicles || 0));
  const heat = map.tiles.map((t) => {
    const cell = geohashBounds(t.tile || "");
    if (!cell) return null;
    const [la0, lo0, la1, lo1] = cell;
    return el("svg:rect", {
      x: x(lo0), y: y(la1), width: Math.max(1, x(lo1) - x(lo0)), height: Math.max(1, y(la0) - y(la1)),
      fill: "rgb(220,53,69)", "fill-opacity": (0.1 + 0.5 * (t.vehicles || 0) / busiest).toFixed(2),
      "data-tile": t.tile,
    }, [el("svg:title", { text: `${t.tile}: ${t.vehicles} vehicles, ${(t.mean_speed_mps * 3.6).toFixed(0)} km/h` })]);
  }).filter(Boolean);
  const marks = vehicles.flatMap((v) => {
    const p = v.predictions && (v.predictions.kalman || v.predictions.dead_reckoning);
    const here = el("svg:circle", {
      cx: x(v.location.lon), cy: y(v.location.lat), r: 4, fill: "#1f6feb", class: "vehicle",
      "data-vehicle-id": v.vehicle_id, "data-lat": v.location.lat, "data-lon": v.location.lon,
    }, [el("svg:title", { text: `${v.vehicle_id} ${(v.speed_mps * 3.6).toFixed(0)} km/h` })]);
    if (!p) return [here];
    return [
      el("svg:line", { x1: x(v.location.lon), y1: y(v.location.lat), x2: x(p.lon), y2: y(p.lat), stroke: "#e8590c", "stroke-width": 1, "stroke-opacity": 0.6 }),
      el("svg:circle", { cx: x(p.lon), cy: y(p.lat), r: 3, fill: "none", stroke: "#e8590c", class: "predicted", "data-vehicle-id": v.vehicle_id }),
      here,
    ];
  });
  svg.replaceChildren(...heat, ...marks);
  $("fleet-count").textContent = `${vehicles.length} vehicles, ${map.tiles.length} busy tiles`;
}

async function refresh() {
  const [state, cluster, map] = await Promise.allSettled([getJson("/v1/state"), getJson("/v1/cluster"), getJson("/v1/map")]);
  if (state.status === "fulfilled") { page.state = state.value; drawGroups(state.value); }
  if (cluster.status === "fulfilled") { page.cluster = cluster.value; drawAgents(cluster.value); }
  if (map.status === "fulfilled") { page.map = map.value; drawMap(map.value); }
  page.refreshed = (page.refreshed || 0) + 1;
}

refresh();
setInterval(refresh, 1000);
