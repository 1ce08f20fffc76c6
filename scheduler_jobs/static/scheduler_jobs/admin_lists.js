/* Give each cell of an admin table the name of its column (data-label), so the
 * phone layout in admin.css can show "Next run: in 5 minutes" when a table is
 * stacked into cards: the change lists (#result_list) and the tables with a
 * header inside a page's panels (recent executions, audit history). Reads the
 * header the page already renders; no words of its own. */
"use strict";
(function () {
  function label(table) {
    var headers = Array.prototype.map.call(
      table.querySelectorAll("thead th"),
      function (th) { return (th.textContent || "").replace(/\s+/g, " ").trim(); }
    );
    table.querySelectorAll("tbody tr").forEach(function (row) {
      Array.prototype.forEach.call(row.children, function (cell, i) {
        if (headers[i] && !cell.hasAttribute("data-label")) {
          cell.setAttribute("data-label", headers[i]);
        }
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("#result_list").forEach(label);
    document.querySelectorAll("#content-main .module table").forEach(function (table) {
      if (table.id === "result_list" || !table.querySelector("thead th")) { return; }
      table.classList.add("ds-stack");
      label(table);
    });
  });
})();
