// edge-alpr console: an event's scene over the page.  A click on a plate crop in the events
// opens the scene (the thumbnail the history keeps) and the crop in a dialog, named by the
// plate, camera and time, while the console goes on refreshing behind it: opening the picture
// in place of the page would stop the refreshes until the operator came back.  Esc, the Close
// button or a click beside the dialog closes it, and the focus goes back to the crop's link.
// The plate's box is drawn over the scene (amber, red for a watch list's plate) where the row
// says where it lies (data-box: left top right bottom, fractions of the frame): a box placed in
// percent scales with the picture at any width.  An event from before the history kept the
// frame's size has none, and shows the scene alone.
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
  const box = document.getElementById("scene-box");
  let boxed = null;  // the edges of the box to draw once the scene has loaded, or null
  let opener = "";  // the event whose crop opened it (its row may be rendered anew meanwhile)

  function show(link) {
    const row = link.closest("tr[data-event]");
    const when = row ? row.querySelector("time") : null;
    const d = link.dataset;
    opener = row ? row.dataset.event : "";
    heading.textContent = [d.plate, d.camera, when ? when.textContent : ""].filter(Boolean).join(" \u00b7 ");
    const scene = link.getAttribute("href");
    const edges = (d.box || "").split(" ").map(Number);
    boxed = edges.length === 4 && edges.every(Number.isFinite) && edges[2] > edges[0] && edges[3] > edges[1]
      ? edges : null;
    box.hidden = true;  // until this scene has loaded: never over the last one
    box.classList.toggle("match", Boolean(row && row.classList.contains("match")));
    image.src = scene;
    image.alt = `the scene plate ${d.plate} was read in` + (boxed ? ", the plate outlined" : "");
    if (image.complete && image.naturalWidth) placeBox();
    crop.hidden = !d.crop || d.crop === scene;  // an event without a scene shows its crop once
    if (!crop.hidden) {
      crop.src = d.crop;
      crop.alt = `plate ${d.plate}`;
    }
    alone.href = scene;
    dialog.showModal();
  }

  function placeBox() {
    if (!boxed) return;
    const [left, top, right, bottom] = boxed.map((f) => f * 100);
    box.style.left = `${left}%`;
    box.style.top = `${top}%`;
    box.style.width = `${right - left}%`;
    box.style.height = `${bottom - top}%`;
    box.hidden = false;
  }
  image.addEventListener("load", placeBox);

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
