// The dashboard: polls /api/v1/summary every 2 seconds with an operator token, and counts down
// between polls. No framework and no build step: one page an operator can read the source of.
"use strict";

const POLL_MS = 2000;
let token = null;
let lastSummary = null;
let lastFetchedAt = 0;

function readToken() {
  const fromFragment = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromFragment) {
    sessionStorage.setItem("retention-token", fromFragment);
    history.replaceState(null, "", location.pathname);  // keep it out of the address bar
  }
  return sessionStorage.getItem("retention-token");
}

function setStatus(text, isError) {
  const status = document.getElementById("status");
  status.textContent = text;
  status.classList.toggle("error", Boolean(isError));
}

function showLogin(message) {
  document.getElementById("login").hidden = false;
  document.getElementById("board").hidden = true;
  setStatus(message, true);
}

function duration(seconds) {
  if (seconds <= 0) return "due";
  const d = Math.floor(seconds / 86400), h = Math.floor(seconds % 86400 / 3600);
  const m = Math.floor(seconds % 3600 / 60), s = Math.floor(seconds % 60);
  if (d) return `${d} d ${h} h`;
  if (h) return `${h} h ${m} min`;
  if (m) return `${m} min ${s} s`;
  return `${s} s`;
}

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = text;
  if (className) td.className = className;
}

function fillTable(id, rows, render) {
  const body = document.querySelector(`#${id} tbody`);
  body.replaceChildren();
  for (const item of rows) render(body.insertRow(), item);
  if (!rows.length) cell(body.insertRow(), "none");
}

function drawChart(buckets) {
  const svg = document.getElementById("chart");
  const width = 840, height = 160, max = Math.max(1, ...buckets.map(b => b.objects));
  const barWidth = width / buckets.length;
  svg.replaceChildren();
  buckets.forEach((bucket, i) => {
    if (!bucket.objects) return;
    const rect = document.createElementNS("http://www.w3.org/2000/svg", "rect");
    const barHeight = Math.max(2, bucket.objects / max * (height - 10));
    rect.setAttribute("x", i * barWidth);
    rect.setAttribute("y", height - barHeight);
    rect.setAttribute("width", Math.max(1, barWidth - 1));
    rect.setAttribute("height", barHeight);
    const title = document.createElementNS("http://www.w3.org/2000/svg", "title");
    title.textContent = `${bucket.hour}: ${bucket.objects} objects`;
    rect.appendChild(title);
    svg.appendChild(rect);
  });
  buckets.forEach((bucket, i) => {  // a label at each midnight (UTC)
    if (i === 0 || !bucket.hour.includes("T00:00")) return;
    const label = document.createElementNS("http://www.w3.org/2000/svg", "text");
    label.setAttribute("x", i * barWidth + 3);
    label.setAttribute("y", 12);
    label.setAttribute("class", "axis");
    label.textContent = bucket.hour.slice(5, 10);
    svg.appendChild(label);
    const line = document.createElementNS("http://www.w3.org/2000/svg", "line");
    line.setAttribute("x1", i * barWidth);
    line.setAttribute("x2", i * barWidth);
    line.setAttribute("y1", 0);
    line.setAttribute("y2", height);
    line.setAttribute("class", "axis");
    svg.appendChild(line);
  });
  const peak = document.createElementNS("http://www.w3.org/2000/svg", "text");
  peak.setAttribute("x", width - 4);
  peak.setAttribute("y", height - 4);
  peak.setAttribute("text-anchor", "end");
  peak.setAttribute("class", "axis");
  peak.textContent = `max ${max} / hour`;
  svg.appendChild(peak);
  svg.dataset.total = buckets.reduce((sum, b) => sum + b.objects, 0);
}

function render() {
  const summary = lastSummary;
  if (!summary) return;
  const elapsed = (Date.now() - lastFetchedAt) / 1000;
  for (const element of document.querySelectorAll("[data-figure]")) {
    element.textContent = summary[element.dataset.figure] ?? "–";
  }
  const archiveAge = summary.archive_measured_at ? (Date.parse(summary.now) - Date.parse(summary.archive_measured_at)) / 1000 : null;
  const archiveTile = document.getElementById("figure-archive");
  archiveTile.hidden = !summary.archive_configured;
  archiveTile.classList.toggle("alert", summary.archive_configured && (archiveAge === null || archiveAge > 30));
  document.getElementById("figure-overdue").classList.toggle("alert", summary.overdue > 0);
  document.getElementById("figure-unconfirmed").classList.toggle("alert", summary.erasures_unconfirmed > 0);
  fillTable("upcoming", summary.upcoming, (row, item) => {
    cell(row, item.alarm_id);
    cell(row, item.held ? `${item.objects} (held)` : item.objects);
    cell(row, duration(item.seconds_left - elapsed));
  });
  fillTable("holds", summary.holds, (row, hold) => {
    cell(row, hold.alarm_id);
    cell(row, hold.hold_id);
    cell(row, duration(hold.seconds_left - elapsed), hold.expiring_soon ? "soon" : "");
  });
  fillTable("deadletters", summary.deadletters, (row, letter) => {
    cell(row, letter.at || "");
    cell(row, letter.source ? `${letter.source.topic}/${letter.source.partition}@${letter.source.offset}` : "");
    cell(row, letter.reason || "");
  });
}

async function poll() {
  if (!token) return;
  try {
    const answer = await fetch("/api/v1/summary", { headers: { Authorization: `Bearer ${token}` } });
    if (answer.status === 401 || answer.status === 403) {
      sessionStorage.removeItem("retention-token");
      token = null;
      showLogin(answer.status === 401 ? "that token is not valid" : "an operator token is needed");
      return;
    }
    if (!answer.ok) throw new Error(`HTTP ${answer.status}`);
    lastSummary = await answer.json();
    lastFetchedAt = Date.now();
    document.getElementById("login").hidden = true;
    document.getElementById("board").hidden = false;
    drawChart(lastSummary.due_per_hour);
    render();
    setStatus(`updated ${new Date().toLocaleTimeString()}` + (lastSummary.projection_caught_up ? "" : " (catching up)"));
  } catch (error) {
    setStatus(`cannot reach the service: ${error.message}`, true);
  }
}

document.getElementById("login").addEventListener("submit", event => {
  event.preventDefault();
  token = document.getElementById("token").value.trim();
  sessionStorage.setItem("retention-token", token);
  poll();
});

token = readToken();
if (token) poll(); else showLogin("enter an operator token");
setInterval(poll, POLL_MS);
setInterval(render, 1000);
