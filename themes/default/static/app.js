/* specadmin pages (CSP script-src 'self'). Everything works without it; it adds select-all, the
   selected-row count and tidy filter addresses. Dialogs and toasts live in dialogs.js. */
(function () {
  "use strict";

  function selectedRows(form) {
    if (!form || !form.id) return [];
    return Array.prototype.filter.call(
      document.querySelectorAll('input.row-check[form="' + form.id + '"]'),
      function (box) { return box.checked; });
  }

  // Confirmations (data-confirm), 请先选择记录 and action parameters are dialogs: static/dialogs.js.

  // GET filter forms: leave empty fields out of the address (restored when coming back).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented || !form.classList || !form.classList.contains("filter-bar")) return;
    Array.prototype.forEach.call(form.elements, function (el) {
      if (el.name && !el.disabled && el.value === "" && el.type !== "submit") {
        el.disabled = true;
        el.setAttribute("data-was-empty", "1");
      }
    });
  });
  window.addEventListener("pageshow", function () {
    Array.prototype.forEach.call(document.querySelectorAll("[data-was-empty]"), function (el) {
      el.disabled = false;
      el.removeAttribute("data-was-empty");
    });
  });

  function refreshCount() {
    var bar = document.getElementById("batch-form");
    if (!bar) return;
    var out = bar.querySelector(".selected-count");
    var n = selectedRows(bar).length;
    if (out) out.textContent = String(n);
  }

  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el.classList && el.classList.contains("check-all")) {
      var table = el.closest("table");
      if (table) {
        Array.prototype.forEach.call(table.querySelectorAll("input.row-check"), function (box) {
          box.checked = el.checked;
        });
      }
    }
    if (el.classList && (el.classList.contains("row-check") || el.classList.contains("check-all"))) {
      refreshCount();
    }
  });

  document.addEventListener("DOMContentLoaded", refreshCount);
})();
