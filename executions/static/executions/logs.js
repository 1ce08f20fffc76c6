/* Log viewer: filter the execution's log lines by level and by text. */
"use strict";
(function () {
  document.addEventListener("DOMContentLoaded", function () {
    var toolbar = document.querySelector("[data-ds-log-toolbar]");
    var table = document.querySelector("[data-ds-logs]");
    if (!toolbar || !table) { return; }
    var search = toolbar.querySelector("[data-ds-log-search]");
    var level = "";
    function apply() {
      var text = (search.value || "").toLowerCase();
      table.querySelectorAll("tr[data-level]").forEach(function (row) {
        var okLevel = !level || row.getAttribute("data-level") === level;
        var okText = !text || row.textContent.toLowerCase().indexOf(text) !== -1;
        row.hidden = !(okLevel && okText);
      });
    }
    toolbar.querySelectorAll("button[data-level]").forEach(function (button) {
      button.addEventListener("click", function () {
        level = button.getAttribute("data-level");
        toolbar.querySelectorAll("button[data-level]").forEach(function (b) {
          b.setAttribute("aria-pressed", b === button ? "true" : "false");
        });
        apply();
      });
    });
    search.addEventListener("input", apply);
  });
})();
