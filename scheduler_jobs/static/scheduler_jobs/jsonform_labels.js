/* Accessible names for the parameter fields that django-jsonform draws from a
 * template's JSON Schema. Its <label>s have no `for` and its inputs no id, so a
 * screen reader announced "combobox" or "textbox: sessions" with no name, and
 * clicking a label did nothing. After every render (the form is React and
 * redraws when items are added or removed) each label is tied to its field, the
 * help text becomes the field's description, a list item is named after its
 * list ("Exclude, item 2"), and the list buttons say which item they act on.
 * It adds no words of its own beyond "item" and the buttons' existing titles. */
"use strict";
(function () {
  function idFor(prefix, name) {
    return prefix + "-" + String(name).replace(/[^A-Za-z0-9_-]+/g, "-");
  }

  function text(el) {
    if (!el) { return ""; }
    var copy = el.cloneNode(true);
    copy.querySelectorAll("button").forEach(function (b) { b.remove(); });
    return (copy.textContent || "").replace(/\s+/g, " ").trim();
  }

  function ownField(row) {
    return row.querySelector(
      ":scope > .rjf-form-row-inner > div > .rjf-input-group > input, " +
      ":scope > .rjf-form-row-inner > div > .rjf-input-group > select, " +
      ":scope > .rjf-form-row-inner > div > .rjf-input-group > textarea, " +
      ":scope > .rjf-form-row-inner > .rjf-check-input input"
    );
  }

  function label(container, prefix) {
    container.querySelectorAll(".rjf-form-row").forEach(function (row) {
      var field = ownField(row);
      if (!field || !field.name) { return; }
      var id = idFor(prefix, field.name);
      if (field.id !== id) { field.id = id; }
      var inner = row.querySelector(":scope > .rjf-form-row-inner > div");
      var lab = inner && inner.querySelector(":scope > label");
      var name = "";
      if (lab && !lab.contains(field)) {
        if (!lab.id) { lab.id = id + "-label"; }
        if (lab.getAttribute("for") !== id) { lab.setAttribute("for", id); }
        name = text(lab);
      } else if (lab) {
        name = text(lab);
      } else {
        // A list item: named after its list and its place in it.
        var group = row.closest(".rjf-form-group-inner");
        var list = group ? text(group.querySelector(":scope > .rjf-form-group-title")) : "";
        var siblings = Array.prototype.filter.call(
          row.parentNode.children, function (el) { return el.classList.contains("rjf-form-row"); }
        );
        name = (list ? list + ", " : "") + "item " + (siblings.indexOf(row) + 1);
        if (field.getAttribute("aria-label") !== name) { field.setAttribute("aria-label", name); }
      }
      var help = row.querySelector(":scope > .rjf-form-row-inner .rjf-help-text");
      if (help) {
        if (!help.id) { help.id = id + "-help"; }
        if (field.getAttribute("aria-describedby") !== help.id) {
          field.setAttribute("aria-describedby", help.id);
        }
      }
      row.querySelectorAll(":scope > .rjf-form-row-controls button").forEach(function (button) {
        var wanted = (button.getAttribute("title") || text(button)) + ": " + name;
        if (button.getAttribute("aria-label") !== wanted) { button.setAttribute("aria-label", wanted); }
      });
    });
    container.querySelectorAll(".rjf-form-group-inner").forEach(function (group) {
      var title = group.querySelector(":scope > .rjf-form-group-title");
      if (!title || !text(title)) { return; }
      var name = text(title);
      if (group.getAttribute("role") !== "group") { group.setAttribute("role", "group"); }
      if (group.getAttribute("aria-label") !== name) { group.setAttribute("aria-label", name); }
      // The visible words first, so a spoken command ("click Add item") still works.
      group.querySelectorAll(":scope > .rjf-add-button, :scope > .rjf-form-group-title > button")
        .forEach(function (button) {
          var own = button.classList.contains("rjf-add-button")
            ? text(button) : button.getAttribute("title") || text(button);
          var wanted = own + ": " + name;
          if (button.getAttribute("aria-label") !== wanted) { button.setAttribute("aria-label", wanted); }
        });
    });
  }

  function watch(container, index) {
    var prefix = "rjf" + index;
    var pending = false;
    var run = function () { pending = false; label(container, prefix); };
    new MutationObserver(function () {
      if (!pending) { pending = true; window.requestAnimationFrame(run); }
    }).observe(container, { childList: true, subtree: true });
    run();
  }

  function start() {
    document.querySelectorAll(".django-jsonform-container").forEach(watch);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
