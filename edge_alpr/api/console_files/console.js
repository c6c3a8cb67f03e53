// edge-alpr console: refreshes the page's parts and edits the watch lists through the API.
// Plain script, no build step.  Every write sends the session's CSRF token in X-CSRF-Token.
"use strict";
(() => {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const refreshMs = 1000 * Number(document.body.dataset.refreshS || 3);
  const message = document.getElementById("message");

  function say(text, bad) {
    message.textContent = text;
    message.className = bad ? "bad" : "ok";
  }

  async function detail(response) {
    try {
      return (await response.json()).detail || response.statusText;
    } catch (e) {
      return response.statusText;
    }
  }

  // Event times come as UTC (ISO 8601, shown as is without script); show them in the browser's
  // own time zone, with the UTC time on hover.
  function localTimes() {
    for (const t of document.querySelectorAll("time[datetime]")) {
      const when = new Date(t.dateTime);
      if (Number.isNaN(when.getTime()) || t.dataset.local) continue;
      t.title = t.textContent + " UTC";
      t.textContent = when.toLocaleString(undefined, {dateStyle: "short", timeStyle: "medium"});
      t.dataset.local = "1";
    }
  }

  // Replace the page's parts with fresh ones rendered (and escaped) by the server.
  async function refresh(which) {
    const query = new URLSearchParams(location.search);
    query.set("parts", which);
    const response = await fetch("/console/parts?" + query, {credentials: "same-origin"});
    if (response.status === 403) {  // the session expired: back to the login form
      location.reload();
      return;
    }
    if (!response.ok) {
      say(await detail(response), true);
      return;
    }
    for (const [id, html] of Object.entries(await response.json())) {
      const part = document.getElementById(id);
      if (part) part.innerHTML = html;
    }
    localTimes();
    document.body.dataset.refreshed = String(Date.now());
  }

  // Load each camera's newest view off-screen, then swap it in (no flicker, no broken icon);
  // the "no frame yet" note goes once there is one.
  function refreshViews() {
    for (const img of document.querySelectorAll("img.view")) {
      const next = new Image();
      next.onload = () => {
        img.src = next.src;
        img.hidden = false;
        const none = img.parentElement.querySelector(".noview");
        if (none) none.hidden = true;
      };
      next.src = img.dataset.src + "?t=" + Date.now();
    }
  }

  async function tick() {
    try {
      await refresh("live");
      refreshViews();
    } catch (e) {
      say("The device does not answer: " + e.message, true);
    }
    setTimeout(tick, refreshMs);
  }

  async function call(method, name, body) {
    const init = {method, credentials: "same-origin", headers: {"X-CSRF-Token": csrf}};
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch("/v1/watchlists/" + encodeURIComponent(name) + "/", init);
    if (!response.ok) throw new Error(await detail(response));
    return response.status === 204 ? null : response.json();
  }

  // Read a list, change it, write it back whole (the API replaces a list with each PUT).
  async function edit(name, change) {
    const list = await call("GET", name);
    const body = {max_distance: list.max_distance, plates: list.plates.map((p) => {
      const entry = {plate: p.plate, label: p.label};
      if (p.max_distance !== null) entry.max_distance = p.max_distance;
      return entry;
    })};
    change(body);
    await call("PUT", name, body);
  }

  async function done(promise, what) {
    try {
      await promise;
      say(what, false);
      await refresh("lists");
    } catch (e) {
      say(e.message, true);
    }
  }

  document.addEventListener("submit", (event) => {
    const form = event.target;
    const action = form.dataset.action;
    if (!action) return;  // the search and logout forms submit normally
    event.preventDefault();
    const f = new FormData(form);
    if (action === "add") {
      const plate = String(f.get("plate"));
      done(edit(form.dataset.list, (b) => b.plates.push({plate, label: String(f.get("label"))})),
           "Added " + plate + " to " + form.dataset.list + ".");
    } else if (action === "create") {
      const name = String(f.get("name"));
      done(call("PUT", name, {max_distance: Number(f.get("max_distance")), plates: []}),
           "Created list " + name + ".");
    }
  });

  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const name = button.dataset.list;
    if (button.dataset.action === "remove") {
      const plate = button.dataset.plate;
      done(edit(name, (b) => { b.plates = b.plates.filter((p) => p.plate !== plate); }),
           "Removed " + plate + " from " + name + ".");
    } else if (button.dataset.action === "drop" && confirm("Delete the watch list " + name + "?")) {
      done(call("DELETE", name), "Deleted list " + name + ".");
    }
  });

  setTimeout(tick, refreshMs);
  refreshViews();
  localTimes();
})();
