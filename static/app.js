// paybylink: small enhancements only; every page works without this script.
(function () {
  "use strict";

  // Copy buttons: <button data-copy="text"> or data-copy-from="#element-id".
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy], [data-copy-from]");
    if (!button) return;
    event.preventDefault();
    var text = button.getAttribute("data-copy");
    if (text === null) {
      var source = document.querySelector(button.getAttribute("data-copy-from"));
      text = source ? source.textContent.trim() : "";
    }
    var done = function () {
      var label = button.textContent;
      button.textContent = button.getAttribute("data-copied") || "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () {});
    } else {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "absolute";
      area.style.left = "-9999px";
      document.body.appendChild(area);
      area.select();
      try { document.execCommand("copy"); done(); } catch (e) { /* nothing to do */ }
      document.body.removeChild(area);
    }
  });

  // The overview: select all, and buttons that fit the selection. "View" needs
  // exactly one link; "Cancel selected" needs links that are all CREATED. The
  // server checks again; this only spares a pointless click.
  var table = document.getElementById("links");
  if (table) {
    var boxes = function () { return Array.prototype.slice.call(table.querySelectorAll('tbody input[name="ids"]')); };
    var selectAll = document.getElementById("select-all");
    var view = document.getElementById("view-selected");
    var cancel = document.getElementById("cancel-selected");
    var hint = document.getElementById("selection-hint");
    var refresh = function () {
      var chosen = boxes().filter(function (b) { return b.checked; });
      var allCreated = chosen.length > 0 && chosen.every(function (b) {
        return b.closest("tr").getAttribute("data-status") === "CREATED";
      });
      if (view) view.disabled = chosen.length !== 1;
      if (cancel) cancel.disabled = !allCreated;
      if (selectAll) selectAll.checked = chosen.length > 0 && chosen.length === boxes().length;
      if (hint) {
        hint.textContent = chosen.length === 0 ? "" :
          chosen.length + " selected" + (chosen.length > 0 && !allCreated ? ", not all CREATED" : "");
      }
    };
    table.addEventListener("change", function (event) {
      if (event.target === selectAll) {
        boxes().forEach(function (b) { b.checked = selectAll.checked; });
      }
      refresh();
    });
    if (cancel) {
      cancel.addEventListener("click", function (event) {
        var question = cancel.getAttribute("data-confirm-button");
        if (question && !window.confirm(question)) event.preventDefault();
      });
    }
    refresh();
  }

  // Forms that ask for confirmation: <form data-confirm="Are you sure?">.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
      return;
    }
    // One submission per form: a second click does nothing while the first is sent.
    if (form.getAttribute("data-submitting") === "1") {
      event.preventDefault();
      return;
    }
    form.setAttribute("data-submitting", "1");
  });
})();

// A page restored from the back/forward cache may be submitted again.
window.addEventListener("pageshow", function () {
  Array.prototype.forEach.call(document.querySelectorAll("form[data-submitting]"), function (f) {
    f.removeAttribute("data-submitting");
  });
});
