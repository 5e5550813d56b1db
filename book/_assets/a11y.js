// Accessible names that say what the reader sees (WCAG 2.5.3). myst-nb names every "Show code
// cell source" toggle, and sphinx-togglebutton every dropdown button ("Answers", "Check
// yourself"), "Toggle hidden content". A summary without aria-label is named by its visible
// text; a dropdown's button gets its box's title.
// tests/test_book_browser.py::test_toggles_are_named_as_they_read checks it.
(function () {
  "use strict";
  function name() {
    document.querySelectorAll('summary[aria-label="Toggle hidden content"]').forEach(function (s) {
      s.removeAttribute("aria-label");
    });
    document.querySelectorAll("button.toggle-button").forEach(function (button) {
      var box = button.closest(".admonition");
      var title = box && box.querySelector(".admonition-title");
      var text = title ? title.textContent.trim() : "";
      if (text) button.setAttribute("aria-label", "Show or hide: " + text);
    });
  }
  // sphinx-togglebutton adds its buttons when the DOM is ready: name them after it has
  if (document.readyState === "complete") name();
  else window.addEventListener("load", name);
})();
