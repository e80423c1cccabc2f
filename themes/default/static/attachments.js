// 附件: previews on the detail page (a thumbnail's large view, the PDF viewer); on the edit page, a chosen file (or several) is uploaded to the row's file API, one request
// per file, with the CSRF header; a 删除 button deletes one file; then the page reloads. Errors
// (type, size, count) are shown beside the input as the server words them.
(function () {
  if (window.specadminAttachments) return;  // loaded once per page
  window.specadminAttachments = true;
  function csrf() {
    var m = document.cookie.match(/(?:^|; )csrftoken=([^;]*)/);
    return m ? decodeURIComponent(m[1]) : "";
  }
  function message(r) {
    return r.json().then(function (b) { return b.detail || b.message || ("上传失败（" + r.status + "）"); },
                         function () { return "上传失败（" + r.status + "）"; });
  }
  document.querySelectorAll(".file-upload").forEach(function (box) {
    var input = box.querySelector("input[type=file]");
    var status = box.querySelector(".file-status");
    input.addEventListener("change", function () {
      var files = Array.prototype.slice.call(input.files);
      if (!files.length) return;
      status.textContent = "上传中…";
      var chain = Promise.resolve();
      files.forEach(function (file) {
        chain = chain.then(function () {
          var body = new FormData();
          body.append("file", file, file.name);
          return fetch(box.dataset.url, {method: "POST", body: body, credentials: "same-origin",
                                         headers: {"x-csrftoken": csrf()}}).then(function (r) {
            if (!r.ok) return message(r).then(function (text) { throw new Error(file.name + "：" + text); });
          });
        });
      });
      chain.then(function () { window.location.reload(); },
                 function (err) { status.textContent = err.message; input.value = ""; });
    });
  });
  // An action's file parameter in its dialog (templates/macros.html, kind "file"): each chosen file is
  // uploaded to <the action form's URL>/files/<param> at once, and the ids it gets go in the hidden input
  // that the action form submits. Dialogs are copied from <template>s, so the listener is on the document.
  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!input.matches || !input.matches("input[type=file][data-param]")) return;
    var form = input.closest("form");
    var hidden = input.parentNode.querySelector("input[data-file-ids]");
    var status = input.parentNode.querySelector(".file-status");
    var files = Array.prototype.slice.call(input.files);
    var ids = [];
    status.textContent = files.length ? "上传中…" : "";
    var chain = Promise.resolve();
    files.forEach(function (file) {
      chain = chain.then(function () {
        var body = new FormData();
        body.append("file", file, file.name);
        return fetch((form.getAttribute("data-url") || form.getAttribute("action")) + "/files/" + input.dataset.param,
                     {method: "POST", body: body, credentials: "same-origin", headers: {"x-csrftoken": csrf()}})
          .then(function (r) {
            if (!r.ok) return message(r).then(function (text) { throw new Error(file.name + "：" + text); });
            return r.json().then(function (b) { ids.push(b.id); });
          });
      });
    });
    chain.then(function () { hidden.value = ids.join(","); status.textContent = files.length ? "已上传 " + ids.length + " 个文件" : ""; },
               function (err) { hidden.value = ""; input.value = ""; status.textContent = err.message; });
  });
  // Previews (templates/_files.html): an image's thumbnail opens its large view in a dialog (Esc or 关闭
  // closes it); a PDF's embedded viewer loads when its 预览 is opened.
  var viewer = null;
  function openLarge(url, name) {
    if (!viewer) {
      viewer = document.createElement("dialog");
      viewer.className = "file-viewer";
      viewer.setAttribute("aria-label", "查看大图");
      var bar = document.createElement("div");
      bar.className = "file-viewer-bar";
      var title = document.createElement("span");
      title.className = "file-viewer-name";
      var close = document.createElement("button");
      close.type = "button";
      close.className = "btn file-viewer-close";
      close.textContent = "关闭";
      close.addEventListener("click", function () { viewer.close(); });
      bar.appendChild(title);
      bar.appendChild(close);
      viewer.appendChild(bar);
      viewer.appendChild(document.createElement("img"));
      viewer.addEventListener("click", function (event) { if (event.target === viewer) viewer.close(); });
      document.body.appendChild(viewer);
    }
    viewer.querySelector(".file-viewer-name").textContent = name;
    var img = viewer.querySelector("img");
    img.alt = name;
    img.src = url;
    viewer.showModal();
  }
  document.querySelectorAll(".file-thumb[data-large]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      openLarge(link.dataset.large, link.dataset.name || "");
    });
  });
  document.querySelectorAll(".file-pdf").forEach(function (details) {
    details.addEventListener("toggle", function () {
      var frame = details.querySelector("iframe[data-src]");
      if (details.open && frame && !frame.getAttribute("src")) frame.setAttribute("src", frame.dataset.src);
    });
  });
  document.querySelectorAll(".file-delete").forEach(function (button) {
    button.addEventListener("click", function () {
      if (!window.confirm("确定删除文件“" + button.dataset.name + "”吗？")) return;
      fetch(button.dataset.url, {method: "DELETE", credentials: "same-origin", headers: {"x-csrftoken": csrf()}})
        .then(function (r) { if (r.ok) window.location.reload(); else message(r).then(window.alert); });
    });
  });
})();
