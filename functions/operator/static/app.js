// Keyboard shortcuts for a fast morning pass, and confirmation for dangerous forms.
// No inline handlers (the Content-Security-Policy forbids them); all content is the server's.
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) { event.preventDefault(); }
  });
  function typing(target) {
    return /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName) || target.isContentEditable;
  }
  document.addEventListener("keydown", function (event) {
    if (typing(event.target) || event.metaKey || event.ctrlKey || event.altKey) { return; }
    var rows = Array.prototype.slice.call(document.querySelectorAll("[data-keys=list] tr[data-href]"));
    if (rows.length) {
      var index = rows.indexOf(document.activeElement);
      if (event.key === "j" || event.key === "k") {
        var next = event.key === "j" ? Math.min(index + 1, rows.length - 1) : Math.max(index - 1, 0);
        rows[index < 0 ? 0 : next].focus();
        event.preventDefault();
      } else if (event.key === "Enter" && index >= 0) {
        window.location.href = rows[index].getAttribute("data-href");
      }
      return;
    }
    var target = document.querySelector("[data-key='" + event.key + "']");
    if (!target) { return; }
    event.preventDefault();
    if (target.tagName === "BUTTON") { target.click(); }
    else if (target.tagName === "DETAILS") { target.open = true; var field = target.querySelector("textarea"); if (field) { field.focus(); } }
    else { target.focus(); }
  });
  // Drag-and-drop upload: each file is sent on its own, with its progress shown.
  var form = document.querySelector("form[data-upload]");
  if (form) {
    var zone = form.querySelector("[data-dropzone]");
    var list = form.querySelector("[data-progress]");
    var csrf = form.querySelector("input[name=csrf]").value;
    function send(file) {
      var item = document.createElement("li");
      item.textContent = file.name + ": 0%";
      list.appendChild(item);
      var body = new FormData();
      body.append("file", file);
      body.append("csrf", csrf);
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.getAttribute("action"));
      xhr.setRequestHeader("X-CSRF-Token", csrf);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.onprogress = function (e) {
        if (e.lengthComputable) { item.textContent = file.name + ": " + Math.round(100 * e.loaded / e.total) + "%"; }
      };
      xhr.onload = function () {
        item.textContent = file.name + (xhr.status < 300 ? ": received, extracting…" : ": refused (" + xhr.status + ")");
        item.setAttribute("data-done", xhr.status < 300 ? "ok" : "error");
      };
      xhr.send(body);
    }
    zone.addEventListener("dragover", function (e) { e.preventDefault(); zone.classList.add("over"); });
    zone.addEventListener("dragleave", function () { zone.classList.remove("over"); });
    zone.addEventListener("drop", function (e) {
      e.preventDefault();
      zone.classList.remove("over");
      Array.prototype.forEach.call(e.dataTransfer.files, send);
    });
  }
})();
