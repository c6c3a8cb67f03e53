// edge-alpr console: refreshes the page's parts and edits the watch lists through the API.
// Plain script, no build step.  Every write sends the session's CSRF token in X-CSRF-Token.
"use strict";
(() => {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const refreshMs = 1000 * Number(document.body.dataset.refreshS || 3);
  const message = document.getElementById("message");
  const WAIT_MS = 10000;  // a refresh not answered by then counts as the device not answering

  function say(text, bad) {
    message.textContent = text;
    message.className = text ? (bad ? "bad" : "ok") : "";
  }

  async function detail(response) {
    try {
      return (await response.json()).detail || response.statusText;
    } catch (e) {
      return response.statusText;
    }
  }

  // The browser's time zone names every time on the page (the events' and the search boxes',
  // search.js): the page comes in UTC, and says so, for a browser without script.
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";
  const pad = (n, width = 2) => String(n).padStart(width, "0");

  // Every time on the page in one form, in the browser's zone with its offset from UTC named:
  // 2024-05-01 15:30:00 UTC+05:30 (UTC itself: 2024-05-01 10:00:00 UTC, as the page comes
  // without script).  Not the locale's form: 05/01/24 is May in one place and January in the
  // next, 3:30 PM names no zone, and an operator holds these times against the UTC ones of
  // MQTT, the webhooks, the API and the device's log.
  function offset(when) {
    const minutes = -when.getTimezoneOffset();
    const a = Math.abs(minutes);
    return minutes ? `UTC${minutes < 0 ? "-" : "+"}${pad(Math.floor(a / 60))}:${pad(a % 60)}` : "UTC";
  }

  function shown(when) {
    return `${pad(when.getFullYear(), 4)}-${pad(when.getMonth() + 1)}-${pad(when.getDate())} ` +
      `${pad(when.getHours())}:${pad(when.getMinutes())}:${pad(when.getSeconds())} ${offset(when)}`;
  }

  // The page's times come in UTC (<time datetime>, the exact stamp on hover, from the server):
  // shown in the browser's zone, and the labels of the search and the events' column name it.
  // A time's day and clock are each kept whole (a narrow cell breaks the line between them, not
  // after a hyphen of the date) in the two spans the server writes: only their text nodes are
  // written, so a selection in the cameras table, updated in place (patch.js), is kept while a
  // camera's last error changes its time at every reconnect (spans drawn anew dropped it).
  function localTimes() {
    for (const label of document.querySelectorAll("span.zone")) label.textContent = "(" + zone + ")";
    for (const t of document.querySelectorAll("time[datetime]")) {
      const when = new Date(t.dateTime);
      if (Number.isNaN(when.getTime()) || t.dataset.local) continue;
      const text = shown(when);
      const cut = text.indexOf(" ");
      const spans = [...t.childNodes].filter((n) => n.nodeName === "SPAN");
      if (spans.length !== 2 || t.childNodes.length !== 3) {
        spans.splice(0, 2, document.createElement("span"), document.createElement("span"));
        t.replaceChildren(spans[0], " ", spans[1]);
      }
      [text.slice(0, cut), text.slice(cut + 1)].forEach((part, i) => {
        const node = spans[i].firstChild;  // its one text node kept: textContent would replace it
        if (node && node.nodeType === 3 && spans[i].childNodes.length === 1) {
          if (node.nodeValue !== part) node.nodeValue = part;
        } else spans[i].textContent = part;
      });
      t.dataset.local = "1";
    }
  }

  // Replace the page's parts with fresh ones rendered (and escaped) by the server.  Refreshes
  // overlap (an edit's beside the timer's, two quick edits): a part is replaced only by an
  // answer to a later request than the one it shows, so an older answer arriving last does not
  // put back a list as it was before an edit (and stay so: an unchanged list is not asked again).
  let asked = 0;
  const shownFrom = new Map();  // part id -> the number of the request its content answered

  async function refresh(which) {
    const number = ++asked;
    // A page whose search is bad keeps its events part (the error, the boxes as typed) and
    // refreshes the rest without the search, which the server would refuse every time.
    const badSearch = document.getElementById("search-error") !== null;
    const query = new URLSearchParams(badSearch ? "" : location.search);
    query.set("parts", which);
    const response = await answer("/console/parts?" + query);
    if (response.status === 403) {  // the session expired: back to the login form
      location.reload();
      return;
    }
    if (!response.ok) throw new Error(`the device answered ${response.status}: ${await detail(response)}`);
    for (const [id, html] of Object.entries(await response.json())) {
      const part = document.getElementById(id);
      if (!part || (badSearch && id === "events")) continue;
      if ((shownFrom.get(id) || 0) > number) continue;  // a later request's answer is shown
      shownFrom.set(id, number);
      const fresh = normal(html);
      if (rendered.get(id) === fresh) continue;
      rendered.set(id, fresh);
      if (IN_PLACE.has(id)) {  // its rows and cells kept, their text updated (patch.js)
        window.patchPart(part, html);
        continue;
      }
      const focused = part.contains(document.activeElement) ? document.activeElement : null;
      const key = focused ? focusKey(focused) : "";
      part.innerHTML = html;
      if (focused) refocus(part, key);
    }
    localTimes();
    retitle();
    document.body.dataset.refreshed = String(Date.now());
  }

  // A part the server rendered alike is left as it is: the summary of trouble (a live region)
  // is announced when the trouble changes, not every refresh, and a focused link stays focused.
  // Compared as the browser writes the parsed HTML out again (what the page's own parse of the
  // same fragment gives), so the parts that came with the page count as rendered: the first
  // refresh renders only what changed since the page was loaded.
  const scratch = document.implementation.createHTMLDocument("");  // inert: loads no image
  function normal(html) {
    const holder = scratch.createElement("div");
    holder.innerHTML = html;
    return holder.innerHTML;
  }

  const rendered = new Map();
  const IN_PLACE = new Set(["cameras"]);  // changes at every refresh: updated, not drawn anew
  for (const id of ["trouble", "cameras", "health", "events", "lists", "counters"]) {
    const part = document.getElementById(id);
    if (part) rendered.set(id, part.innerHTML);  // before localTimes() rewrites the times
  }

  // A part that changed is rendered anew: the element that had the focus in it (a crop, a
  // button, the plate box of a list's form) is found again in the new part by what it is (its
  // id, its row or list, its link, name or action), and focused, so the keyboard stays where
  // the operator left it; where that names no one element (a plate removed), the focus is not
  // moved to a guess.  A link is known by its data-key (the trouble summary's items: several
  // link to the same section) or its rel (the "Older events" link: its cursor changes with each
  // new event) before its address.
  const FOCUSABLE = "a[href], button, input, select, textarea, [tabindex]";

  function focusKey(element) {
    const row = element.closest("[data-event], [data-index]");
    const list = element.closest("[data-list]");
    const d = element.dataset;
    const link = d.key || element.getAttribute("rel") || element.getAttribute("href");
    return JSON.stringify([element.id, element.tagName, link,
      element.getAttribute("name"), d.action, d.plate, list ? list.dataset.list : null,
      row ? row.dataset.event || row.dataset.index : null]);
  }

  function refocus(part, key) {
    const again = [...part.querySelectorAll(FOCUSABLE)].filter((e) => focusKey(e) === key);
    if (again.length === 1) again[0].focus({preventScroll: true});
  }

  // The tab's title counts what needs attention (the summary's, from the server), so a tab in
  // the background shows it; and says when the device does not answer.
  function retitle() {
    const line = document.querySelector("#trouble [data-title]");
    if (downText) document.title = "(!) edge-alpr console: no answer";
    else if (line) document.title = line.dataset.title;
  }

  // A fetch that gives up after WAIT_MS: a device that hangs is shown as not answering too.
  async function answer(url) {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), WAIT_MS);
    try {
      return await fetch(url, {credentials: "same-origin", signal: abort.signal});
    } catch (e) {
      throw new Error(e.name === "AbortError" ? `the device did not answer within ${WAIT_MS / 1000} s`
        : "no connection to the device");
    } finally {
      clearTimeout(timer);
    }
  }

  // While the device does not answer (or answers an error), the page says since when and why,
  // and that what it shows is as of then (dimmed); the next answer clears both, so a restart
  // needs no reload.
  let lastAnswer = new Date();  // the page's load, then each refresh's answer
  let downText = "";

  function down(reason) {
    downText = `Not refreshed since ${shown(lastAnswer)}: ${reason}. The page shows ` +
      `the state as of then, and retries every ${refreshMs / 1000} s.`;
    say(downText, true);
    document.body.classList.add("stale");
    retitle();
  }

  function up() {
    if (message.textContent === downText && downText) say("", false);
    lastAnswer = new Date();
    downText = "";
    document.body.classList.remove("stale");
    retitle();
  }

  // Each camera's view is fetched when its row says it has a newer frame (data-view: the count
  // of recognised frames): never for a camera without one, so no broken image and no 404 every
  // refresh.  The image is loaded off-screen, then swapped in (no flicker).
  function refreshViews() {
    for (const img of document.querySelectorAll("img.view")) {
      const row = document.querySelector(`#cameras tr[data-index="${img.dataset.index}"]`);
      const version = row ? row.dataset.view : "";
      const none = img.parentElement.querySelector(".noview");
      if (!version) {  // no frame yet (or none since a restart): the note, not an old frame
        img.hidden = true;
        if (none) none.hidden = false;
        delete img.dataset.shown;
        continue;
      }
      if (version === img.dataset.shown) continue;
      const next = new Image();
      next.onload = () => {
        img.src = next.src;
        img.hidden = false;
        img.dataset.shown = version;
        if (none) none.hidden = true;
      };
      next.src = img.dataset.src + "?t=" + Date.now();
    }
  }

  async function tick() {
    try {
      await refresh("live");
      up();
      refreshViews();
    } catch (e) {
      down(e.message);
    }
    setTimeout(tick, refreshMs);
  }

  // A watch-list request: the list (plate: one plate of it, edited on the device in one step,
  // so two quick edits, from here or elsewhere, keep each other's plates).
  async function call(method, name, body, plate) {
    const init = {method, credentials: "same-origin", headers: {"X-CSRF-Token": csrf}};
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const path = "/v1/watchlists/" + encodeURIComponent(name) + "/" +
      // a plate's "/" would split the path: the device keeps letters and digits only anyway
      (plate === undefined ? "" : "plates/" + encodeURIComponent(plate.replace(/\//g, "")) + "/");
    const response = await fetch(path, init);
    if (!response.ok) throw new Error(await detail(response));
    return response.status === 204 ? null : response.json();
  }

  async function done(promise, what) {
    try {
      await promise;
      say(what, false);
      await refresh("lists");
    } catch (e) {
      say(e.message, true);  // the list as it is now, not as this page last saw it
      refresh("lists").catch(() => {});
    }
  }

  document.addEventListener("submit", (event) => {
    const form = event.target;
    const action = form.dataset.action;
    if (!action) return;  // the logout form submits normally
    event.preventDefault();
    const f = new FormData(form);
    if (action === "add") {
      const plate = String(f.get("plate"));
      done(call("PUT", form.dataset.list, {label: String(f.get("label"))}, plate),
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
      done(call("DELETE", name, undefined, plate), "Removed " + plate + " from " + name + ".");
    } else if (button.dataset.action === "drop" && confirm("Delete the watch list " + name + "?")) {
      done(call("DELETE", name), "Deleted list " + name + ".");
    }
  });

  // Another script of the page changed the state (photo.js read a photo): show it at once.
  document.addEventListener("console:changed", () => refresh("live").catch(() => {}));

  setTimeout(tick, refreshMs);
  refreshViews();
  localTimes();
})();
