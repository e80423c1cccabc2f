/* specadmin pages: the only script (CSP script-src 'self'). Everything works without it;
   it adds confirmations (data-confirm), select-all and the selected-row count. */
(function () {
  "use strict";

  function confirmText(el) {
    return el && el.getAttribute ? el.getAttribute("data-confirm") : null;
  }

  function selectedRows(form) {
    if (!form || !form.id) return [];
    return Array.prototype.filter.call(
      document.querySelectorAll('input.row-check[form="' + form.id + '"]'),
      function (box) { return box.checked; });
  }

  // Buttons with data-confirm / data-needs-selection (checked on click, before submit).
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button[data-confirm], button[data-needs-selection]") : null;
    if (!button) return;
    var form = button.form;
    var need = button.getAttribute("data-needs-selection");
    if (need !== null && form) {
      var n = selectedRows(form).length;
      if (n === 0) {
        event.preventDefault();
        window.alert(need || "请先选择记录");
        return;
      }
    }
    var text = confirmText(button);
    if (text) {
      if (!window.confirm(text)) {
        event.preventDefault();
        return;
      }
      button.setAttribute("data-confirmed", "1");
    }
  }, true);

  // Forms with data-confirm (e.g. a per-row action).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var text = confirmText(form);
    if (!text) return;
    var submitter = event.submitter;
    if (submitter && submitter.getAttribute("data-confirmed")) return;
    if (!window.confirm(text)) event.preventDefault();
  }, true);

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

  // Links with data-confirm.
  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a[data-confirm]") : null;
    if (link && !window.confirm(confirmText(link))) event.preventDefault();
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
