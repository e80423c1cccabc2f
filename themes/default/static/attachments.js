// 附件: on the edit page, a chosen file (or several) is uploaded to the row's file API, one request
// per file, with the CSRF header; a 删除 button deletes one file; then the page reloads. Errors
// (type, size, count) are shown beside the input as the server words them.
(function () {
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
  document.querySelectorAll(".file-delete").forEach(function (button) {
    button.addEventListener("click", function () {
      if (!window.confirm("确定删除文件“" + button.dataset.name + "”吗？")) return;
      fetch(button.dataset.url, {method: "DELETE", credentials: "same-origin", headers: {"x-csrftoken": csrf()}})
        .then(function (r) { if (r.ok) window.location.reload(); else message(r).then(window.alert); });
    });
  });
})();
