/* Lists and the dashboard refresh themselves: every REFRESH_MS the page is
   fetched again and its results region swapped in place (no full reload).
   Paused while the tab is hidden, while rows are selected or text is selected,
   for a few seconds after the user typed or clicked in the page, and by the
   pause button. With prefers-reduced-motion it starts paused and new rows are
   not highlighted. Without scripts nothing changes: reload the page. */
"use strict";
(function () {
  var REFRESH_MS = 15000;
  var QUIET_MS = 5000;
  var REGIONS = ["[data-ds-refresh-region]", "#result_list", "#changelist .paginator"];

  function reducedMotion() {
    return window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  }

  function timeText(date) {
    try {
      return new Intl.DateTimeFormat(undefined, {
        hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
        timeZoneName: "short",
      }).format(date);
    } catch (e) {
      return date.toISOString().slice(11, 19) + " UTC";
    }
  }

  function label(table) {
    /* The phone layout's per-cell column names (as admin_lists.js sets them). */
    var headers = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
      return (th.textContent || "").replace(/\s+/g, " ").trim();
    });
    table.querySelectorAll("tbody tr").forEach(function (row) {
      Array.prototype.forEach.call(row.children, function (cell, i) {
        if (headers[i] && !cell.hasAttribute("data-label")) {
          cell.setAttribute("data-label", headers[i]);
        }
      });
    });
  }

  function rowKeys(root) {
    var keys = {};
    if (!root) { return keys; }
    root.querySelectorAll("#result_list tbody tr").forEach(function (row) {
      keys[row.textContent.replace(/\s+/g, " ").trim().slice(0, 40)] = true;
    });
    return keys;
  }

  function setup() {
    var regions = REGIONS.filter(function (sel) { return document.querySelector(sel); });
    if (!regions.length) { return; }
    var anchor = document.querySelector("[data-ds-refresh-region]") ||
      document.getElementById("changelist");
    if (!anchor) { return; }
    var paused = reducedMotion();
    var lastInput = 0;
    var busy = false;

    var bar = document.createElement("div");
    bar.className = "ds-refresh";
    var status = document.createElement("span");
    status.setAttribute("role", "status");
    status.setAttribute("aria-live", "polite");
    status.setAttribute("data-ds-refresh-status", "");
    var button = document.createElement("button");
    button.type = "button";
    button.className = "button";
    button.setAttribute("data-ds-refresh-toggle", "");
    bar.appendChild(status);
    bar.appendChild(document.createTextNode(" "));
    bar.appendChild(button);
    anchor.parentNode.insertBefore(bar, anchor);

    function show(text) {
      status.textContent = text;
      button.textContent = paused ? "Resume auto-refresh" : "Pause auto-refresh";
      button.setAttribute("aria-pressed", paused ? "true" : "false");
    }
    show("Updated " + timeText(new Date()) + (paused ? " · auto-refresh paused" : ""));

    button.addEventListener("click", function () {
      paused = !paused;
      show(status.textContent.replace(/ · auto-refresh paused$/, "") +
        (paused ? " · auto-refresh paused" : ""));
      if (!paused) { refresh(); }
    });
    ["keydown", "pointerdown", "input"].forEach(function (name) {
      document.addEventListener(name, function (event) {
        if (!bar.contains(event.target)) { lastInput = Date.now(); }
      }, true);
    });

    function userBusy() {
      if (document.hidden) { return true; }
      if (Date.now() - lastInput < QUIET_MS) { return true; }
      if (document.querySelector("#result_list input.action-select:checked, #action-toggle:checked")) {
        return true;
      }
      var select = document.querySelector("#changelist-form select[name=action]");
      if (select && select.value) { return true; }
      var selection = window.getSelection && window.getSelection();
      if (selection && !selection.isCollapsed) { return true; }
      var active = document.activeElement;
      return Boolean(active && active !== document.body && active.closest &&
        active.closest("#changelist-form, [data-ds-refresh-region]") &&
        /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName));
    }

    function swap(doc) {
      var before = rowKeys(document);
      var swapped = false;
      REGIONS.forEach(function (sel) {
        var old = document.querySelector(sel);
        var fresh = doc.querySelector(sel);
        if (old && fresh) {
          old.replaceWith(document.importNode(fresh, true));
          swapped = true;
        }
      });
      var table = document.getElementById("result_list");
      if (table) {
        label(table);
        if (!reducedMotion()) {
          table.querySelectorAll("tbody tr").forEach(function (row) {
            var key = row.textContent.replace(/\s+/g, " ").trim().slice(0, 40);
            if (Object.keys(before).length && !before[key]) { row.classList.add("ds-new-row"); }
          });
        }
        var boxes = document.querySelectorAll("tr input.action-select");
        if (boxes.length && window.Actions) { window.Actions(boxes); }
      }
      return swapped;
    }

    function refresh() {
      if (busy || paused || userBusy()) { return; }
      busy = true;
      fetch(window.location.href, {
        credentials: "same-origin",
        headers: { "X-Requested-With": "XMLHttpRequest" },
      }).then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.text();
      }).then(function (html) {
        if (paused || userBusy()) { return; }
        var doc = new DOMParser().parseFromString(html, "text/html");
        if (swap(doc)) { show("Updated " + timeText(new Date())); }
      }).catch(function () {
        show("Not updated: the server did not answer. Next try in " + REFRESH_MS / 1000 + " s.");
      }).then(function () { busy = false; });
    }
    setInterval(refresh, REFRESH_MS);
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden) { refresh(); }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setup);
  } else {
    setup();
  }
})();
