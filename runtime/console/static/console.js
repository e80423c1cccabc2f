/* The ops console page (/admin/, piccolo-admin; served by runtime/console/mount.py).
   piccolo-admin names a table by its table name ("scan record"): this writes the table's Chinese
   label from the spec over that text wherever it appears (menu, headings, "编辑 scan record"),
   from the page's <meta name="specadmin-table-labels">, and the column labels over the CSV
   export's column picker. One sign-on: piccolo-admin's own login screen (shown after its 退出)
   hands over to the app's login page. An external file: the CSP stays. */
(function () {
  "use strict";

  function metaJSON(name) {
    var meta = document.querySelector('meta[name="' + name + '"]');
    try {
      return JSON.parse(meta ? meta.getAttribute("content") : "{}") || {};
    } catch (e) {
      return {};
    }
  }

  var labels = metaJSON("specadmin-table-labels");
  var columns = metaJSON("specadmin-column-labels");  // table → {column: label}

  var keys = Object.keys(labels).sort(function (a, b) { return b.length - a.length; });

  // "scan record" → its label; also at the end of a short heading such as "编辑 scan record".
  function relabelled(text) {
    var lower = text.toLowerCase();
    for (var i = 0; i < keys.length; i++) {
      var key = keys[i];
      if (lower === key) return labels[key];
      var at = lower.length - key.length;
      if (at > 0 && at <= 24 && lower.slice(at) === key && lower.charAt(at - 1) === " ") {
        return text.slice(0, at) + labels[key];
      }
    }
    return null;
  }

  // The CSV export's column picker names columns as stored: label them as the current table's.
  function relabelColumns() {
    var table = (location.hash.match(/^#\/([A-Za-z0-9_]+)/) || [])[1];
    var own = columns[table];
    if (!own) return;
    Array.prototype.forEach.call(document.querySelectorAll("label[for^='csv_']"), function (label) {
      var name = label.textContent.trim();
      if (Object.prototype.hasOwnProperty.call(own, name)) label.textContent = own[name];
    });
  }

  function relabel() {
    if (!document.body) return;
    relabelColumns();
    var walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    var node;
    while ((node = walker.nextNode())) {
      var text = node.nodeValue.trim();
      var label = text ? relabelled(text) : null;
      if (label !== null) node.nodeValue = node.nodeValue.replace(text, label);
    }
  }

  function toAppLogin() {
    if (location.hash.indexOf("#/login") === 0) location.replace("/login?next=/admin/");
  }

  var pending = false;
  function later() {
    if (pending) return;
    pending = true;
    window.requestAnimationFrame(function () {
      pending = false;
      relabel();
    });
  }

  function start() {
    toAppLogin();
    relabel();
    new MutationObserver(later).observe(document.body, { childList: true, subtree: true, characterData: true });
  }

  window.addEventListener("hashchange", toAppLogin);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
