// edge-alpr console: "Try a photo".  Sends the chosen (or dropped) picture to the device's own
// POST /v1/plate-reader/ as any API client would (multipart `upload`, `regions`, camera_id
// `console`), with the session's CSRF token in X-CSRF-Token like the watch-list edits, and shows
// what was read: the photo on a canvas with the plate boxes drawn, and a row per plate.
// The picture is decoded here with createImageBitmap (no blob: URL, which the page's
// Content-Security-Policy, img-src 'self', would refuse), upright per EXIF like the device reads it.
"use strict";
(() => {
  const form = document.getElementById("photo");
  if (!form) return;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const input = form.elements.upload;
  const button = form.querySelector("button");
  const status = document.getElementById("photo-status");
  const result = document.getElementById("photo-result");
  const canvas = document.getElementById("photo-canvas");
  const summary = document.getElementById("photo-summary");
  const rows = document.querySelector("#photo-plates tbody");
  const maxBytes = Number(form.dataset.maxBytes);
  const WAIT_MS = 60000;  // a read not answered by then: the device is said not to answer
  const MAX_SIDE = 1600;  // the canvas's largest side: a phone's 12 MP photo needs no more to be seen
  const BOX = "#ffc400", MATCH = "#e62828";  // the live view's colours: amber, red for a watch list's

  function say(text, bad) {
    status.textContent = text;
    status.className = text ? (bad ? "bad" : "ok") : "";
  }

  const mib = (bytes) => String(Number((bytes / 2 ** 20).toPrecision(3))) + " MiB";

  // What is wrong with the file before it is sent, or "" (the device says the rest).
  function refusal(file) {
    if (!file) return "Choose a photo first.";
    if (file.size === 0) return `${file.name} is empty: choose a photo of a car.`;
    if (file.size > maxBytes) {
      return `${file.name} is ${mib(file.size)}: the device takes photos up to ${mib(maxBytes)} ` +
        "(api.max_upload_bytes). Send a smaller one (a phone can share a photo at a lower size).";
    }
    if (file.type && !file.type.startsWith("image/")) {
      return `${file.name} is not an image (${file.type}): choose a JPEG, PNG, BMP or WebP photo.`;
    }
    return "";
  }

  async function read(file, regions) {
    const body = new FormData();
    body.append("upload", file, file.name);
    if (regions) body.append("regions", regions);
    body.append("camera_id", "console");
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), WAIT_MS);
    let response;
    try {
      response = await fetch("/v1/plate-reader/", {method: "POST", body, credentials: "same-origin",
        headers: {"X-CSRF-Token": csrf}, signal: abort.signal});
    } catch (e) {
      throw new Error(e.name === "AbortError" ? `the device did not answer within ${WAIT_MS / 1000} s`
        : "no connection to the device (or it closed the connection: is the photo too large?)");
    } finally {
      clearTimeout(timer);
    }
    let answer = null;
    try {
      answer = await response.json();
    } catch (e) {
      answer = null;
    }
    if (!response.ok) {
      const why = answer && answer.detail ? answer.detail : response.statusText;
      const hint = response.status === 403 && /CSRF|credentials/.test(why) ? " Reload the page (log in again)." : "";
      throw new Error(`The device refused the photo (${response.status}): ${why}${hint}`);
    }
    if (!answer || !Array.isArray(answer.results)) throw new Error("The device's answer is not a read.");
    return answer;
  }

  // The picture decoded in the browser, or null where it cannot (the reads are still shown).
  async function picture(file) {
    try {
      return await createImageBitmap(file);
    } catch (e) {
      return null;
    }
  }

  function draw(bitmap, results) {
    canvas.hidden = !bitmap;
    if (!bitmap) return;
    const scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
    canvas.width = Math.round(bitmap.width * scale);
    canvas.height = Math.round(bitmap.height * scale);
    const g = canvas.getContext("2d");
    g.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    const line = Math.max(2, Math.round(canvas.width / 320));
    g.lineWidth = line;
    g.font = `bold ${Math.max(14, line * 7)}px system-ui, sans-serif`;
    g.textBaseline = "bottom";
    for (const r of results) {
      const b = r.box, colour = r.match ? MATCH : BOX;
      const x = b.xmin * scale, y = b.ymin * scale;
      g.strokeStyle = colour;
      g.strokeRect(x, y, (b.xmax - b.xmin) * scale, (b.ymax - b.ymin) * scale);
      const text = String(r.plate).toUpperCase();
      const height = Math.max(14, line * 7) + 4, width = g.measureText(text).width + 8;
      const top = y - height >= 0 ? y - height : y + (b.ymax - b.ymin) * scale;
      g.fillStyle = colour;
      g.fillRect(x, top, width, height);
      g.fillStyle = "#000";
      g.fillText(text, x + 4, top + height - 2);
    }
  }

  function cell(row, label, text, klass) {
    const td = row.insertCell();
    td.dataset.label = label;
    td.textContent = text;
    if (klass) td.className = klass;
  }

  const score = (value) => (typeof value === "number" ? value.toFixed(3) : "");
  const named = (part) => (part && part.code !== undefined ? part.code : part && part.type) || "";

  function table(results) {
    rows.replaceChildren();
    for (const r of results) {
      const row = rows.insertRow();
      if (r.match) row.className = "match";
      cell(row, "Plate", String(r.plate).toUpperCase(), "plate");
      cell(row, "Score", score(r.score), "num");
      cell(row, "Region", r.region ? `${named(r.region) || "unknown"} (${score(r.region.score)})` : "");
      cell(row, "Vehicle", r.vehicle ? `${named(r.vehicle) || "unknown"} (${score(r.vehicle.score)})` : "");
      cell(row, "Watch list", r.match ? `${r.match.list}${r.match.label ? ": " + r.match.label : ""}` : "");
    }
    rows.parentElement.hidden = results.length === 0;
  }

  // The result shown is always the one of the photo the status names: a new try takes the
  // last one's away at once, so a refusal or a failed read never stands beside an old result.
  function clearResult() {
    result.hidden = true;
    rows.replaceChildren();
    summary.textContent = "";
    canvas.width = canvas.height = 0;
  }

  async function submit() {
    const file = input.files[0];
    clearResult();
    const wrong = refusal(file);
    if (wrong) {
      say(wrong, true);
      return;
    }
    button.disabled = true;
    form.setAttribute("aria-busy", "true");
    say(`Reading ${file.name}…`, false);
    try {
      const [answer, bitmap] = await Promise.all([read(file, form.elements.regions.value.trim()), picture(file)]);
      draw(bitmap, answer.results);
      table(answer.results);
      const n = answer.results.length;
      summary.textContent = (n ? `${n} plate${n > 1 ? "s" : ""} read` : "No plate found") +
        ` in ${Math.round(answer.processing_time)} ms on the device` +
        (bitmap ? "" : " (this browser cannot show the picture)") + ".";
      result.hidden = false;
      say(`Read ${file.name}.`, false);
      document.dispatchEvent(new Event("console:changed"));  // the events and counters, at once
    } catch (e) {
      say(e.message, true);
    } finally {
      button.disabled = false;
      form.removeAttribute("aria-busy");
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!button.disabled) submit();
  });

  // A picture dropped onto the section is the one to read (and is read at once).  Anywhere else
  // on the page a dropped file does nothing: left to the browser it would open the file in
  // place of the console, and read there it would cost an API call, an event in the history
  // and a webhook post for a slip of the mouse.  While a file is dragged over the page the
  // section is outlined, and elsewhere the pointer says no drop.
  const section = document.getElementById("try");
  const carriesFiles = (event) => !!event.dataTransfer && [...event.dataTransfer.types].includes("Files");
  const dragging = (on, over) => {
    document.body.classList.toggle("dragging-files", on);
    section.classList.toggle("dropping", on && over);
  };
  document.addEventListener("dragover", (event) => {
    if (!carriesFiles(event)) return;  // text dragged into a box: the browser's own way
    event.preventDefault();
    const over = section.contains(event.target);
    event.dataTransfer.dropEffect = over ? "copy" : "none";
    dragging(true, over);
  });
  document.addEventListener("dragleave", (event) => {
    if (!event.relatedTarget) dragging(false, false);  // out of the window
  });
  document.addEventListener("drop", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    dragging(false, false);
    if (!section.contains(event.target) || !event.dataTransfer.files.length || button.disabled) return;
    input.files = event.dataTransfer.files;
    submit();
  });

  button.disabled = false;  // the form works from now on (it is disabled in the HTML until then)
})();
