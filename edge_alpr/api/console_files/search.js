// edge-alpr console: the events search's Since and Until boxes in the browser's time zone.
// Apart from console.js (the refreshes) because it is its own concern: the boxes are text boxes
// in ISO order (2024-05-01 10:00:00, whatever the locale: a date box shows the locale's order,
// 05/01/2024 in en-US), filled in UTC by the server, shown here in the browser's zone, as every
// time of the page is, and sent back in UTC.
"use strict";
(() => {
  const pad = (n, width = 2) => String(n).padStart(width, "0");
  // The forms a box reads in the browser's zone: a day alone (its midnight), a day and an hour,
  // hh:mm, hh:mm:ss, a fraction; a T, a t or a space between the day and the clock.  The server
  // reads a time without a zone as UTC, so any other form without one (2024-W18-3,
  // 20240501T0800) is refused here, beside its box, not sent as typed to be read hours off.
  const BOX_TIME = /^(\d{4})-(\d\d)-(\d\d)(?:[Tt ](\d\d)(?::(\d\d)(?::(\d\d)(?:\.(\d+))?)?)?)?$/;
  // a time with its zone (...Z, ...+00:00) is sent as typed: the server reads it or says why not
  const ZONED = /(?:\d[Zz]|[Tt ][\d:.,]*\d[+-]\d\d(?::?\d\d){0,2})$/;
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "the browser's zone";

  // The days of a month (1-12) of a year (1-9999): day 0 of the next month is its last.
  function daysIn(year, month) {
    const last = new Date(Date.UTC(2000, 0, 1));
    last.setUTCFullYear(year, month, 0);
    return last.getUTCDate();
  }

  // A box's time read in UTC (the server's own) or in the browser's zone: {when}, or {why} it is
  // none.  Each field is checked before the Date is built, which would roll it over silently
  // (month 13 into the next year, minute 60 into the next hour), and the year is set with
  // setFullYear (new Date(50, ...) is 1950).  The hour alone may move: a time the clocks skip
  // (03:30 in Bucharest on 2024-03-31, from 03:00 straight to 04:00) is read as the browser
  // reads it, an hour later (04:30 there, 01:30 UTC).
  function boxTime(text, utc) {
    const m = BOX_TIME.exec(text);
    if (!m) return {why: `${JSON.stringify(text)} is not a time this box reads: type YYYY-MM-DD, ` +
      `YYYY-MM-DD hh:mm or YYYY-MM-DD hh:mm:ss in the browser's zone (${zone}), or end it with Z for UTC`};
    const [year, month, day, hour, minute, second] = m.slice(1, 7).map((v) => Number(v || 0));
    const bad = year < 1 ? `year ${m[1]} (the years start at 0001)`
      : month < 1 || month > 12 ? `month ${m[2]} (01 to 12)`
      : day < 1 || day > daysIn(year, month) ? `day ${m[3]} in ${m[1]}-${m[2]} (01 to ${daysIn(year, month)})`
      : hour > 23 ? `hour ${m[4]} (00 to 23)` : minute > 59 ? `minute ${m[5]} (00 to 59)`
      : second > 59 ? `second ${m[6]} (00 to 59)` : "";
    if (bad) return {why: `${text} has no ${bad}`};
    const ms = Number((m[7] || "0").padEnd(3, "0").slice(0, 3));
    const when = new Date(Date.UTC(2000, 0, 1, 12));  // noon: never in a gap of the clocks
    if (utc) {
      when.setUTCFullYear(year, month - 1, day);
      when.setUTCHours(hour, minute, second, ms);
    } else {
      when.setFullYear(year, month - 1, day);
      when.setHours(hour, minute, second, ms);
    }
    return Number.isNaN(when.getTime()) ? {why: `${text} is out of range`} : {when};
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
      const when = boxTime(box.value, true).when;
      if (when) {
        box.value = localBox(when);
        box.dataset.utc = when.toISOString();
        box.dataset.local = box.value;
      }
      box.dataset.zone = "local";
    }
  }

  // A box's time refused here is marked as the server marks a bad box (red, aria-invalid), and
  // said in a line of its own under the form (the server's error line, if any, stays).
  function mark(box, why) {
    const was = box.getAttribute("aria-describedby") === "search-typed";
    if (why) {
      box.setAttribute("aria-invalid", "true");
      box.setAttribute("aria-describedby", "search-typed");
    } else if (was) {
      box.removeAttribute("aria-invalid");
      box.removeAttribute("aria-describedby");
    }
  }

  function say(form, faults) {
    let line = document.getElementById("search-typed");
    if (!line) {
      line = document.createElement("p");
      line.id = "search-typed";
      line.className = "bad";
      line.setAttribute("role", "alert");
      form.after(line);
    }
    line.textContent = faults.join("; ");
  }

  function searchInUtc(form) {
    const query = new URLSearchParams();
    const faults = [];
    for (const [name, value] of new FormData(form)) {
      const text = String(value).trim();
      const box = form.elements.namedItem(name);
      const local = text && box && box.dataset && box.dataset.zone === "local" && !ZONED.test(text);
      const read = local ? boxTime(text, false) : {};
      if (box && box.dataset && box.dataset.zone) mark(box, read.why);
      if (read.why) faults.push(`${name[0].toUpperCase()}${name.slice(1)}: ${read.why}`);
      let when = read.when;
      const came = when && box.dataset.utc ? boxTime(box.dataset.local, false).when : null;
      if (came && came.getTime() === when.getTime()) when = new Date(box.dataset.utc);  // as it came
      if (text) query.append(name, when ? when.toISOString().replace(".000Z", "Z") : text);
    }
    if (faults.length) say(form, faults);
    else location.assign("/?" + query);
  }

  document.addEventListener("submit", (event) => {
    if (event.target.id !== "search") return;
    event.preventDefault();
    searchInUtc(event.target);
  });

  localBoxes();
})();
