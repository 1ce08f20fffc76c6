/* Log viewer: filter the execution's log lines by level and by text, and, while
   the run runs, fetch its new lines, status and duration every few seconds.
   Without scripts the page shows what was saved when it loaded (reload for more). */
"use strict";
(function () {
  var POLL_MS = 1500;

  function setupFilter(toolbar, table) {
    var search = toolbar.querySelector("[data-ds-log-search]");
    var state = { level: "" };
    function apply() {
      var text = (search.value || "").toLowerCase();
      table.querySelectorAll("tr[data-level]").forEach(function (row) {
        var okLevel = !state.level || row.getAttribute("data-level") === state.level;
        var okText = !text || row.textContent.toLowerCase().indexOf(text) !== -1;
        row.hidden = !(okLevel && okText);
      });
    }
    function bind(button) {
      button.addEventListener("click", function () {
        state.level = button.getAttribute("data-level");
        toolbar.querySelectorAll("button[data-level]").forEach(function (b) {
          b.setAttribute("aria-pressed", b === button ? "true" : "false");
        });
        apply();
      });
    }
    toolbar.querySelectorAll("button[data-level]").forEach(bind);
    search.addEventListener("input", apply);
    function addLevel(level) {
      if (toolbar.querySelector('button[data-level="' + level + '"]')) { return; }
      var button = document.createElement("button");
      button.type = "button";
      button.className = "button";
      button.setAttribute("data-level", level);
      button.setAttribute("aria-pressed", "false");
      button.textContent = level.charAt(0) + level.slice(1).toLowerCase();
      toolbar.insertBefore(button, search);
      bind(button);
    }
    return { apply: apply, addLevel: addLevel };
  }

  function row(line) {
    var tr = document.createElement("tr");
    tr.className = "ds-level-" + line.level;
    tr.setAttribute("data-level", line.level);
    [["ds-log-ts", line.time], ["ds-log-level", line.level], ["ds-log-msg", line.message]]
      .forEach(function (cell) {
        var td = document.createElement("td");
        td.className = cell[0];
        td.textContent = cell[1];
        if (cell[0] === "ds-log-ts") { td.title = line.ts; }
        tr.appendChild(td);
      });
    return tr;
  }

  function setupLive(box, toolbar, table, filter) {
    var url = box.getAttribute("data-ds-live-logs");
    var count = parseInt(box.getAttribute("data-count"), 10) || 0;
    var dropped = parseInt(box.getAttribute("data-dropped"), 10) || 0;
    var tbody = table.querySelector("tbody");
    var counter = box.querySelector("[data-ds-log-count]");
    var note = box.querySelector("[data-ds-live-note]");
    var badge = document.getElementById("execution-status");
    var duration = document.querySelector("[data-ds-duration]");
    var timer = null;
    var done = false;

    function show(data) {
      if (data.reset) { tbody.textContent = ""; }
      data.lines.forEach(function (line) {
        filter.addLevel(line.level);
        tbody.appendChild(row(line));
      });
      count = data.count;
      dropped = data.dropped;
      if (count) {
        toolbar.hidden = false;
        table.hidden = false;
        var empty = box.querySelector("[data-ds-log-empty]");
        if (empty) { empty.remove(); }
      }
      counter.textContent = count + " line" + (count === 1 ? "" : "s") +
        (dropped ? ", " + dropped + " more dropped by the size limit" : "");
      filter.apply();
      if (badge && badge.textContent !== data.status_label) {
        badge.textContent = data.status_label;
        badge.className = "ds-badge ds-status-" + data.status;
      }
      if (duration) { duration.textContent = data.duration; }
      if (data.finished) {
        done = true;
        var so = document.querySelector("[data-ds-duration-note]");
        if (so) { so.remove(); }
        var finished = document.querySelector("[data-ds-finished]");
        if (finished) { finished.textContent = data.finished_at; }
        if (note) {
          note.textContent = "The run ended (" + data.status_label + "). ";
          var link = document.createElement("a");
          link.href = "";
          link.textContent = "Reload for its result";
          note.appendChild(link);
        }
      }
    }

    function poll() {
      timer = null;
      if (document.hidden) { return; }
      timer = -1;  // a request is on its way
      fetch(url + "?offset=" + count + "&dropped=" + dropped, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      }).then(function (response) {
        if (!response.ok) { throw new Error(response.status); }
        return response.json();
      }).then(function (data) {
        timer = null;
        show(data);
        if (!data.finished) { timer = setTimeout(poll, data.more ? 0 : POLL_MS); }
      }).catch(function () {
        timer = setTimeout(poll, POLL_MS * 4);
      });
    }
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden && timer === null && !done) {
        poll();
      }
    });
    if (note) {
      note.textContent = "Lines appear here as the run writes them.";
    }
    timer = setTimeout(poll, POLL_MS);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var toolbar = document.querySelector("[data-ds-log-toolbar]");
    var table = document.querySelector("[data-ds-logs]");
    if (!toolbar || !table) { return; }
    var filter = setupFilter(toolbar, table);
    var box = document.querySelector("[data-ds-live-logs]");
    if (box) { setupLive(box, toolbar, table, filter); }
  });
})();
