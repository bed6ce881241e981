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
})();
