// edge-alpr console: updates a part of the page in place to match its fresh rendering.
// Why not innerHTML: the cameras table changes at every refresh (its durations, its counts), and
// a table drawn anew drops the operator's text selection, the hover, the focus and the scroll of
// a narrow screen, and makes a screen reader read the table again.  Here an element that is in
// both (a row by its data-index, the rest by its place and tag) is kept, and only the
// attributes and the text that differ are written; a row that is new is added and one that is
// gone removed (a camera added or dropped).  Loaded before console.js, which calls it.
"use strict";
window.patchPart = (() => {
  const key = (node) => node.nodeType === 1 && node.dataset ? node.dataset.index : undefined;
  const alike = (a, b) => a.nodeType === b.nodeType && a.nodeName === b.nodeName;

  function attributes(old, fresh) {
    for (const a of [...old.attributes]) if (!fresh.hasAttribute(a.name)) old.removeAttribute(a.name);
    for (const a of fresh.attributes) if (old.getAttribute(a.name) !== a.value) old.setAttribute(a.name, a.value);
  }

  function patch(old, fresh) {
    if (old.nodeType !== 1) {
      if (old.nodeValue !== fresh.nodeValue) old.nodeValue = fresh.nodeValue;
      return;
    }
    // a time already shown in the browser's zone (console.js) stays as it is while its instant does
    if (old.tagName === "TIME" && old.dataset.local && old.getAttribute("datetime") === fresh.getAttribute("datetime")) return;
    attributes(old, fresh);
    children(old, fresh);
  }

  function children(old, fresh) {
    const olds = [...old.childNodes];
    const byKey = new Map(olds.filter((o) => key(o) !== undefined).map((o) => [key(o), o]));
    const used = new Set();
    const wanted = [];
    let at = 0;  // the next old child without a key
    for (const f of fresh.childNodes) {
      let match;
      if (key(f) !== undefined) match = byKey.get(key(f));
      else {
        while (at < olds.length && key(olds[at]) !== undefined) at++;
        match = olds[at++];
      }
      if (match && !used.has(match) && alike(match, f)) {
        used.add(match);
        patch(match, f);
        wanted.push(match);
      } else {
        wanted.push(document.importNode(f, true));
      }
    }
    for (const o of olds) if (!used.has(o)) o.remove();
    wanted.forEach((node, i) => {
      if (old.childNodes[i] !== node) old.insertBefore(node, old.childNodes[i] || null);
    });
  }

  // part: the element on the page; html: its fresh content (parsed inert: no image loads twice)
  return (part, html) => {
    const holder = document.createElement("template");
    holder.innerHTML = html;
    children(part, holder.content);
  };
})();
