/* specadmin pages: list widgets (CSP script-src 'self'; no inline styles: classes from app.css).
   Everything works without this script; it adds
   - the searchable drop-down: a <select data-search> (ref options, orgs as a tree) gets a box
     that filters its options by name or pinyin initials (data-initials, e.g. xcajjd), with the
     tree depth (data-depth) shown as indentation; the <select> stays in the form and holds the value;
   - the page-size choice of the pager submitting on change (back to page 1). */
(function () {
  "use strict";

  function text(option) {
    return (option.textContent || "").replace(/^[\s\u3000]+/, "");
  }

  // How an option matches what was typed: "name", "initials" (pinyin initials), or "" (no match).
  function match(option, query) {
    if (!query) return "name";
    if (!option.value) return ""; // 全部 / 请选择 only while the box is empty
    var q = query.toLowerCase();
    if (text(option).toLowerCase().indexOf(q) >= 0) return "name";
    var initials = (option.getAttribute("data-initials") || "").toLowerCase().split(/\s+/);
    return initials.some(function (reading) { return reading && reading.indexOf(q) >= 0; }) ? "initials" : "";
  }

  function build(select) {
    var combo = document.createElement("div");
    combo.className = "combo";
    var toggle = document.createElement("button");
    toggle.type = "button";
    toggle.className = "combo-toggle";
    toggle.setAttribute("aria-haspopup", "listbox");
    toggle.setAttribute("aria-expanded", "false");
    var shown = document.createElement("span");
    toggle.appendChild(shown);
    var panel = document.createElement("div");
    panel.className = "combo-panel";
    panel.hidden = true;
    var search = document.createElement("input");
    search.type = "search";
    search.className = "combo-search";
    search.placeholder = select.getAttribute("data-search") || "输入名称或拼音首字母";
    search.setAttribute("aria-label", "筛选选项");
    search.autocomplete = "off";
    var list = document.createElement("ul");
    list.className = "combo-list";
    list.setAttribute("role", "listbox");
    panel.appendChild(search);
    panel.appendChild(list);
    combo.appendChild(toggle);
    combo.appendChild(panel);
    // The <select> stays rendered (invisible, out of the tab order) so the form and anything that
    // sets its value directly (a test's select_option, autofill) keep working; its change shows here.
    select.classList.add("combo-native");
    select.tabIndex = -1;
    select.setAttribute("aria-hidden", "true");
    select.parentNode.insertBefore(combo, select);
    combo.appendChild(select);
    var label = select.closest("label");
    if (label) toggle.setAttribute("aria-label", (label.querySelector(".filter-label") || label).textContent.trim());
    else if (select.id) {
      var outer = document.querySelector('label[for="' + select.id + '"]');
      if (outer) toggle.setAttribute("aria-label", outer.textContent.trim());
    }

    function refreshShown() {
      var chosen = select.options[select.selectedIndex];
      shown.textContent = chosen ? text(chosen) : "";
    }

    function items() {
      return Array.prototype.slice.call(list.querySelectorAll("li.combo-option"));
    }

    function fill() {
      list.textContent = "";
      var query = search.value.trim();
      var count = 0;
      Array.prototype.forEach.call(select.options, function (option) {
        var how = match(option, query);
        if (!how) return;
        var li = document.createElement("li");
        var depth = query ? 0 : Math.min(6, parseInt(option.getAttribute("data-depth") || "0", 10) || 0);
        li.className = "combo-option depth-" + depth + (option.selected ? " chosen" : "");
        li.setAttribute("role", "option");
        li.setAttribute("data-value", option.value);
        li.setAttribute("aria-selected", option.selected ? "true" : "false");
        var name = document.createElement("span");
        name.className = "combo-label";
        name.textContent = text(option);
        li.appendChild(name);
        var initials = option.getAttribute("data-initials");
        if (how === "initials" && initials) { // show the reading that matched
          var hint = document.createElement("span");
          hint.className = "combo-initials";
          hint.textContent = initials.split(/\s+/)[0];
          li.appendChild(hint);
        }
        list.appendChild(li);
        count += 1;
      });
      if (!count) {
        var none = document.createElement("li");
        none.className = "combo-empty";
        none.textContent = "无匹配项";
        list.appendChild(none);
      }
      var first = list.querySelector("li.combo-option");
      if (first) first.classList.add("hot");
    }

    function open() {
      panel.hidden = false;
      combo.classList.add("open");
      toggle.setAttribute("aria-expanded", "true");
      search.value = "";
      fill();
      search.focus();
    }

    function close(focusToggle) {
      panel.hidden = true;
      combo.classList.remove("open");
      toggle.setAttribute("aria-expanded", "false");
      if (focusToggle) toggle.focus();
    }

    function choose(li) {
      select.value = li.getAttribute("data-value");
      select.dispatchEvent(new Event("change", { bubbles: true }));
      refreshShown();
      close(true);
    }

    function move(step) {
      var all = items();
      if (!all.length) return;
      var at = all.findIndex(function (li) { return li.classList.contains("hot"); });
      if (at >= 0) all[at].classList.remove("hot");
      var next = all[Math.max(0, Math.min(all.length - 1, at + step))];
      next.classList.add("hot");
      next.scrollIntoView({ block: "nearest" });
    }

    toggle.addEventListener("click", function (event) {
      event.preventDefault();
      if (panel.hidden) open(); else close(false);
    });
    search.addEventListener("input", fill);
    search.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        move(event.key === "ArrowDown" ? 1 : -1);
      } else if (event.key === "Enter") {
        event.preventDefault(); // never submit the form from the box
        var hot = list.querySelector("li.combo-option.hot");
        if (hot) choose(hot);
      } else if (event.key === "Escape") {
        event.preventDefault();
        close(true);
      }
    });
    list.addEventListener("mousedown", function (event) { event.preventDefault(); });
    list.addEventListener("click", function (event) {
      event.preventDefault();
      var li = event.target.closest("li.combo-option");
      if (li) choose(li);
    });
    document.addEventListener("click", function (event) {
      if (!panel.hidden && !combo.contains(event.target)) close(false);
    });
    select.addEventListener("change", refreshShown);
    refreshShown();
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll("select[data-search]"), build);
    // The pager's page size: a new size starts again at page 1.
    Array.prototype.forEach.call(document.querySelectorAll("select[data-autosubmit]"), function (select) {
      select.addEventListener("change", function () {
        var form = select.form;
        if (!form) return;
        var page = form.querySelector("input[name=page]");
        if (page) page.value = "1";
        if (form.requestSubmit) form.requestSubmit(); else form.submit();
      });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
