// edge-alpr console: the events search's Since and Until boxes in the browser's time zone.
// Apart from console.js (the refreshes) because it is its own concern: the boxes are text boxes
// in ISO order (2024-05-01 10:00:00, whatever the locale: a date box shows the locale's order,
// 05/01/2024 in en-US), filled in UTC by the server, shown here in the browser's zone, as every
// time of the page is, and sent back in UTC.
"use strict";
(() => {
  const pad = (n, width = 2) => String(n).padStart(width, "0");
  const BOX_TIME = /^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d)(?::(\d\d)(?:\.(\d{1,3}))?)?$/;

  // A search box's time (2024-05-01 10:00[:00[.000]], or with a T) read in UTC or in the
  // browser's zone; null for anything else (left as typed: the server names what is wrong).
  function boxTime(text, utc) {
    const m = BOX_TIME.exec(text);
    if (!m) return null;
    const p = [+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0), +(m[7] || "0").padEnd(3, "0")];
    const when = utc ? new Date(Date.UTC(...p)) : new Date(...p);
    const day = utc ? when.getUTCDate() : when.getDate();
    return Number.isNaN(when.getTime()) || day !== p[2] ? null : when;
  }

  function localBox(when) {
    const ms = when.getMilliseconds();
    return `${pad(when.getFullYear(), 4)}-${pad(when.getMonth() + 1)}-${pad(when.getDate())} ` +
      `${pad(when.getHours())}:${pad(when.getMinutes())}:${pad(when.getSeconds())}` +
      (ms ? "." + pad(ms, 3) : "");
  }

  // The search's time boxes come in UTC (the query's, as in GET /v1/events/): shown in the
  // browser's zone, like the events' times, and sent back in UTC (searchInUtc).  The instant a
  // box came with is kept (data-utc): a local time names two instants in the hour the clocks
  // go back (03:30 twice in Bucharest on 2024-10-27), and read back it is the first, so a box
  // left as it came (a bad search corrected in another box) sends its own instant, not one an
  // hour early.  A time typed into that hour is read as the browser reads it: the first.
  function localBoxes() {
    for (const box of document.querySelectorAll('input[data-zone="utc"]')) {
      const when = boxTime(box.value, true);
      if (when) {
        box.value = localBox(when);
        box.dataset.utc = when.toISOString();
        box.dataset.local = box.value;
      }
      box.dataset.zone = "local";
    }
  }

  function searchInUtc(form) {
    const query = new URLSearchParams();
    for (const [name, value] of new FormData(form)) {
      const text = String(value).trim();
      const box = form.elements.namedItem(name);
      let when = box && box.dataset && box.dataset.zone === "local" ? boxTime(text, false) : null;
      const came = when && box.dataset.utc ? boxTime(box.dataset.local, false) : null;
      if (came && came.getTime() === when.getTime()) when = new Date(box.dataset.utc);  // as it came
      if (text) query.append(name, when ? when.toISOString().replace(".000Z", "Z") : text);
    }
    location.assign("/?" + query);
  }

  document.addEventListener("submit", (event) => {
    if (event.target.id !== "search") return;
    event.preventDefault();
    searchInUtc(event.target);
  });

  localBoxes();
})();
