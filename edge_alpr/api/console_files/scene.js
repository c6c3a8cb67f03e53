// edge-alpr console: an event's scene over the page.  A click on a plate crop in the events
// opens the scene (the thumbnail the history keeps) and the crop in a dialog, named by the
// plate, camera and time, while the console goes on refreshing behind it: opening the picture
// in place of the page would stop the refreshes until the operator came back.  Esc, the Close
// button or a click beside the dialog closes it, and the focus goes back to the crop's link.
// Without script, or with a modifier key or the middle button (a new tab, a download), the
// link opens the picture itself.
"use strict";
(() => {
  const dialog = document.getElementById("scene");
  if (!dialog || typeof dialog.showModal !== "function") return;  // the plain link, then
  const heading = document.getElementById("scene-title");
  const image = document.getElementById("scene-image");
  const crop = document.getElementById("scene-crop");
  const alone = document.getElementById("scene-open");
  let opener = "";  // the event whose crop opened it (its row may be rendered anew meanwhile)

  function show(link) {
    const row = link.closest("tr[data-event]");
    const when = row ? row.querySelector("time") : null;
    const d = link.dataset;
    opener = row ? row.dataset.event : "";
    heading.textContent = [d.plate, d.camera, when ? when.textContent : ""].filter(Boolean).join(" \u00b7 ");
    const scene = link.getAttribute("href");
    image.src = scene;
    image.alt = `the scene plate ${d.plate} was read in`;
    crop.hidden = !d.crop || d.crop === scene;  // an event without a scene shows its crop once
    if (!crop.hidden) {
      crop.src = d.crop;
      crop.alt = `plate ${d.plate}`;
    }
    alone.href = scene;
    dialog.showModal();
  }

  document.addEventListener("click", (event) => {
    const link = event.target.closest("a.scene");
    if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    show(link);
  });

  document.getElementById("scene-close").addEventListener("click", () => dialog.close());
  // a click on the backdrop lands on the dialog itself (its content fills it, edge to edge)
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) dialog.close();
  });
  dialog.addEventListener("close", () => {
    const back = opener && document.querySelector(`#events tr[data-event="${CSS.escape(opener)}"] a.scene`);
    if (back) back.focus();
  });
})();
