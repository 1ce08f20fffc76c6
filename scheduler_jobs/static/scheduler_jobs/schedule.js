/* Schedule builder and live preview for the job wizard and change form.
 * Vanilla JS, no dependencies: presets write a cron expression into the raw
 * input, typing a cron expression selects the matching preset, and every change
 * asks the admin's schedule-preview view for the description and next runs. */
"use strict";
(function () {
  function byRole(form, role) { return form.querySelector('[data-ds="' + role + '"]'); }
  function row(el) { return el ? el.closest(".form-row") : null; }
  function show(el, visible) { if (el) { el.hidden = !visible; el.style.display = visible ? "" : "none"; } }

  function scheduleType(form) {
    var checked = form.querySelector('[data-ds="schedule_type"]:checked');
    return checked ? checked.value : "cron";
  }

  var PARTS = {
    minutes: ["n"],
    hourly: ["minute"],
    daily: ["hour", "minute"],
    weekly: ["weekday", "hour", "minute"],
    monthly: ["monthday", "hour", "minute"],
    custom: []
  };

  function parseCron(text) {
    var f = (text || "").trim().split(/\s+/);
    var num = /^\d+$/;
    if (f.length !== 5) { return { preset: "custom" }; }
    var m = f[0], h = f[1], dom = f[2], mon = f[3], dow = f[4];
    var every = /^\*\/(\d+)$/.exec(m);
    if (every && h === "*" && dom === "*" && mon === "*" && dow === "*") {
      return { preset: "minutes", n: every[1] };
    }
    if (!num.test(m) || mon !== "*") { return { preset: "custom" }; }
    if (h === "*" && dom === "*" && dow === "*") { return { preset: "hourly", minute: m }; }
    if (!num.test(h)) { return { preset: "custom" }; }
    if (dom === "*" && dow === "*") { return { preset: "daily", hour: h, minute: m }; }
    if (dom === "*" && num.test(dow)) {
      return { preset: "weekly", weekday: String(Number(dow) % 7), hour: h, minute: m };
    }
    if (dom === "*" && (dow === "1-5" || dow === "0,6")) {
      return { preset: "weekly", weekday: dow, hour: h, minute: m, keepWeekday: true };
    }
    if (num.test(dom) && dow === "*") {
      return { preset: "monthly", monthday: dom, hour: h, minute: m };
    }
    return { preset: "custom" };
  }

  function initBuilder(builder) {
    var form = builder.closest("form");
    var cron = byRole(form, "cron");
    var preset = builder.querySelector("[data-ds-preset]");
    var inputs = {
      n: builder.querySelector("[data-ds-n]"),
      minute: builder.querySelector("[data-ds-minute]"),
      hour: builder.querySelector("[data-ds-hour]"),
      weekday: builder.querySelector("[data-ds-weekday]"),
      monthday: builder.querySelector("[data-ds-monthday]")
    };

    function showParts() {
      var wanted = PARTS[preset.value] || [];
      builder.querySelectorAll("[data-ds-part]").forEach(function (part) {
        show(part, wanted.indexOf(part.getAttribute("data-ds-part")) !== -1);
      });
      var sep = builder.querySelector("[data-ds-part-sep]");
      if (sep) { sep.textContent = preset.value === "hourly" ? "at minute " : ":"; }
    }

    function compose() {
      var m = inputs.minute.value, h = inputs.hour.value;
      switch (preset.value) {
        case "minutes": return "*/" + Math.max(1, Math.min(59, Number(inputs.n.value) || 1)) + " * * * *";
        case "hourly": return m + " * * * *";
        case "daily": return m + " " + h + " * * *";
        case "weekly": return m + " " + h + " * * " + inputs.weekday.value;
        case "monthly": return m + " " + h + " " + inputs.monthday.value + " * *";
        default: return cron.value;
      }
    }

    function fromCron() {
      var parsed = parseCron(cron.value);
      preset.value = parsed.preset;
      Object.keys(inputs).forEach(function (key) {
        if (parsed[key] === undefined) { return; }
        inputs[key].value = key === "weekday" ? String(parsed[key]) : String(Number(parsed[key]));
      });
      showParts();
    }

    preset.addEventListener("change", function () {
      showParts();
      if (preset.value !== "custom") { cron.value = compose(); }
      cron.dispatchEvent(new Event("input", { bubbles: true }));
      if (preset.value === "custom") { cron.focus(); }
    });
    Object.keys(inputs).forEach(function (key) {
      inputs[key].addEventListener("input", function () {
        cron.value = compose();
        cron.dispatchEvent(new Event("input", { bubbles: true }));
      });
    });
    cron.addEventListener("change", fromCron);
    cron.addEventListener("keyup", function () {
      var p = parseCron(cron.value).preset;
      if (p !== preset.value && document.activeElement === cron) { preset.value = p; showParts(); }
    });
    fromCron();
  }

  function initPreview(panel) {
    var form = panel.closest("form");
    var url = panel.getAttribute("data-url");
    var desc = panel.querySelector("[data-ds-preview-description]");
    var runs = panel.querySelector("[data-ds-preview-runs]");
    var warnings = panel.querySelector("[data-ds-preview-warnings]");
    var error = panel.querySelector("[data-ds-preview-error]");
    var timer = null;
    var seq = 0;

    function toggleRows() {
      var interval = scheduleType(form) === "interval";
      show(row(byRole(form, "every")), interval);
      show(row(byRole(form, "cron")), !interval);
      show(row(byRole(form, "timezone")), !interval);
      var calendar = byRole(form, "calendar");
      show(row(byRole(form, "calendar_rule")), Boolean(calendar && calendar.value));
    }

    function render(data) {
      runs.textContent = "";
      warnings.textContent = "";
      show(warnings, false);
      show(error, false);
      if (!data.valid) {
        desc.textContent = "";
        var messages = [];
        Object.keys(data.errors || {}).forEach(function (key) {
          messages = messages.concat(data.errors[key]);
        });
        error.textContent = messages.join(" ");
        show(error, true);
        return;
      }
      desc.textContent = data.description;
      data.runs.forEach(function (run) {
        var li = document.createElement("li");
        var when = document.createElement("time");
        when.setAttribute("datetime", run.at);
        when.title = run.utc;
        when.textContent = run.local;
        li.appendChild(when);
        var rel = document.createElement("span");
        rel.className = "ds-quiet";
        rel.textContent = " (" + run.relative + (run.planned ? ", planned " + run.planned + " + jitter" : "") + ")";
        li.appendChild(rel);
        if (run.outcome && run.outcome !== "runs") {
          var outcome = document.createElement("span");
          outcome.className = "ds-badge ds-outcome-" + run.outcome;
          outcome.textContent = run.outcome;
          li.appendChild(document.createTextNode(" "));
          li.appendChild(outcome);
          li.appendChild(document.createTextNode(": " + run.reason));
          li.className = "ds-slot-" + run.outcome;
        }
        if (run.note) {
          var badge = document.createElement("span");
          badge.className = "ds-badge ds-badge-warn";
          badge.textContent = run.note === "dst-gap" ? "DST gap" : "DST repeat";
          li.appendChild(document.createTextNode(" "));
          li.appendChild(badge);
        }
        runs.appendChild(li);
      });
      (data.warnings || []).forEach(function (text) {
        var li = document.createElement("li");
        li.className = "warning";
        li.textContent = text;
        warnings.appendChild(li);
      });
      show(warnings, (data.warnings || []).length > 0);
    }

    function refresh() {
      toggleRows();
      var params = new URLSearchParams();
      ["schedule_type", "cron", "timezone", "every", "every_unit", "calendar",
       "calendar_rule", "jitter_seconds"].forEach(function (role) {
        var value = role === "schedule_type" ? scheduleType(form) : (byRole(form, role) || {}).value;
        params.set(role, value || "");
      });
      var blackout = form.querySelector('[data-ds="in_blackout"]:checked');
      params.set("in_blackout", blackout ? blackout.value : "");
      // The job's name, id and category: jitter and blackout windows depend on them.
      var name = form.querySelector("#id_name");
      params.set("job_name", name ? name.value : (panel.getAttribute("data-job-name") || ""));
      params.set("job_id", panel.getAttribute("data-job-id") || "");
      params.set("category", panel.getAttribute("data-category") || "");
      var mine = ++seq;
      fetch(url + "?" + params.toString(), { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (data) { if (mine === seq) { render(data); } })
        .catch(function () {
          if (mine === seq) { desc.textContent = "Preview unavailable."; }
        });
    }

    function later() { clearTimeout(timer); timer = setTimeout(refresh, 250); }
    form.addEventListener("input", function (e) {
      if (e.target.closest("[data-ds]") || e.target.hasAttribute("data-ds")) { later(); }
    });
    form.addEventListener("change", function (e) {
      if (e.target.hasAttribute("data-ds")) { later(); }
    });
    refresh();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-ds-builder]").forEach(initBuilder);
    document.querySelectorAll("[data-ds-preview]").forEach(initPreview);
  });
})();
