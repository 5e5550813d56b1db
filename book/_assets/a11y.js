// Accessible names that say what the reader sees (WCAG 2.5.3), and keyboard access to the
// formulas that scroll (WCAG 2.1.1).
//
// 1. myst-nb names every "Show code cell source" toggle, and sphinx-togglebutton every dropdown
// button ("Answers", "Check yourself"), "Toggle hidden content". A summary without aria-label is
// named by its visible text; a dropdown's button gets its box's title and the hint it shows,
// "Answers, click to show", then "Answers, click to hide" (aria-expanded carries the state too).
// Its chevron is decoration: hidden from screen readers.
// tests/test_book_browser.py::test_toggles_formulas_and_buttons_for_keyboards_and_screen_readers
// checks it.
//
// 2. Formulas are not tab stops (_config.yml: MathJax's inTabOrder is false), but a display
// formula wider than the column scrolls sideways in its own box, and a keyboard can only scroll
// a box it can focus. Such a formula, and only while it overflows, is a tab stop: a region named
// "Formula (4.1), scrolls sideways" by its equation number, else "Formula 3, ..." by its place
// among the page's display formulas (two regions of one name are two landmarks a screen reader
// cannot tell apart). Checked after MathJax has typeset the page, when its fonts have loaded
// and when the window changes size.
// tests/test_book_browser.py::test_a_wide_formula_scrolls_with_the_keyboard checks it.
(function () {
  "use strict";
  function hint(button) {
    return (button.getAttribute("data-toggle-hint") || "").trim().toLowerCase();
  }
  function name() {
    document.querySelectorAll('summary[aria-label="Toggle hidden content"]').forEach(function (s) {
      s.removeAttribute("aria-label");
    });
    document.querySelectorAll("button.toggle-button").forEach(function (button) {
      var box = button.closest(".admonition");
      var title = box && box.querySelector(".admonition-title");
      var text = title ? title.textContent.trim() : "";
      if (!text) return;
      var rename = function () {
        var h = hint(button);
        button.setAttribute("aria-label", h ? text + ", " + h : text);
      };
      rename();
      new MutationObserver(rename).observe(button, {attributes: true,
                                                    attributeFilter: ["data-toggle-hint"]});
      button.querySelectorAll("svg.tb-icon").forEach(function (svg) {
        svg.setAttribute("aria-hidden", "true");
        svg.setAttribute("focusable", "false");
      });
    });
  }

  function label(m, k) {
    var box = m.closest(".math");
    var eqno = box && box.querySelector(".eqno");
    var number = eqno && eqno.firstChild ? eqno.firstChild.textContent.trim() : "";
    return "Formula " + (number || String(k + 1)) + ", scrolls sideways";
  }
  function markWideFormulas() {
    document.querySelectorAll('mjx-container[display="true"]').forEach(function (m, k) {
      var wide = m.scrollWidth > m.clientWidth + 1;
      var marked = m.hasAttribute("data-a11y-scrolls");
      if (wide && !marked) {
        m.setAttribute("data-a11y-scrolls", m.getAttribute("tabindex") || "");
        m.tabIndex = 0;
        m.setAttribute("role", "region");
        m.setAttribute("aria-label", label(m, k));
      } else if (!wide && marked) {
        var before = m.getAttribute("data-a11y-scrolls");
        if (before) m.setAttribute("tabindex", before);
        else m.removeAttribute("tabindex");
        m.removeAttribute("role");
        m.removeAttribute("aria-label");
        m.removeAttribute("data-a11y-scrolls");
      }
    });
  }
  var pending = false;
  function soon() {
    if (pending) return;
    pending = true;
    window.requestAnimationFrame(function () { pending = false; markWideFormulas(); });
  }
  function formulas() {
    var mj = window.MathJax;
    if (!(mj && mj.startup && mj.startup.promise)) return;
    mj.startup.promise.then(function () {
      markWideFormulas();
      if (document.fonts && document.fonts.ready) document.fonts.ready.then(soon);
      window.addEventListener("resize", soon);
    });
  }

  function start() { name(); formulas(); }
  // sphinx-togglebutton adds its buttons when the DOM is ready, and MathJax loads with the
  // page: start after both
  if (document.readyState === "complete") start();
  else window.addEventListener("load", start);
})();
