// Two fixes of the theme.
//
// 1. The buttons that open the chapter list (☰) and the page's contents. The theme draws two of
// each (pydata-sphinx-theme's header icon, hidden here, and sphinx-book-theme's visible
// button), and both themes bind their handlers to the first one only, through
// document.querySelector: the visible button did nothing, on a phone and on a desktop
// (pydata/pydata-sphinx-theme#2451, executablebooks/sphinx-book-theme#988). Each other button
// passes its click on to the bound one.
// tests/test_book_browser.py::test_the_sidebar_buttons_open_the_sidebars checks it.
//
// 2. Search on a book opened from disk (file://, as the introduction says): Sphinx fetches each
// result's page for a text snippet, which a browser refuses over file:// (a CORS error and an
// uncaught "Failed to fetch" per result). There the results are listed without snippets.
// tests/test_book_browser.py::test_search_from_disk_lists_results_without_errors checks it.
//
// 3. The chapter list's sidebar (with the book's title at its top) was in no landmark: a
// screen reader's landmark list skipped the title (axe "region"). It is a complementary
// landmark named "Chapters"; the list inside stays the navigation landmark "Main".
// tests/test_book_browser.py::test_the_chapter_sidebar_is_a_landmark checks it.
(function () {
  "use strict";
  function forward() {
    [".primary-toggle", ".secondary-toggle"].forEach(function (selector) {
      var buttons = document.querySelectorAll(selector);
      for (var i = 1; i < buttons.length; i++) {
        buttons[i].addEventListener("click", function (event) {
          event.preventDefault();
          event.stopPropagation();
          buttons[0].click();
        });
      }
    });
  }
  function landmark() {
    var sidebar = document.querySelector(".bd-sidebar-primary");
    if (!sidebar || sidebar.closest("[role=complementary], aside")) return;
    sidebar.setAttribute("role", "complementary");
    sidebar.setAttribute("aria-label", "Chapters");
  }
  function start() { forward(); landmark(); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
  if (location.protocol === "file:" && typeof DOCUMENTATION_OPTIONS !== "undefined") {
    DOCUMENTATION_OPTIONS.SHOW_SEARCH_SUMMARY = false;
  }
})();
