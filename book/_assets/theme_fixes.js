// Fixes of the theme.
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
//
// 4. A search result opened from the search page never highlighted the searched words:
// sphinx_highlight.js highlights them only where `Search` is undefined (to skip the search page),
// but pydata-sphinx-theme loads searchtools.js on every page. Off the search page the words
// Sphinx saved are highlighted here, and its "Hide Search Matches" link shows above the article.
// tests/test_book_browser.py::test_a_search_result_highlights_the_searched_word checks it.
//
// 5. Sphinx's query splitter breaks "1×1" (the book's own spelling, in chapter titles) at "×"
// and drops the numbers left: the search found nothing. The query is searched as "1x1", the
// spelling of the code, and the page's "1×1" is highlighted too.
// tests/test_book_browser.py::test_search_finds_sizes_spelled_with_a_times_sign checks it.
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
  function highlight() {
    // on the search page (#search-results) Sphinx's words are the previous search's
    if (typeof Search === "undefined" || typeof SphinxHighlight === "undefined" ||
        document.getElementById("search-results")) return;
    SphinxHighlight.highlightSearchWords();
  }
  var TIMES = /(\d)\s*\u00d7\s*(?=\d)/g;          // "3×3", "3 × 3"
  function timesSign() {
    if (typeof Search === "undefined" || Search._parseQuery.timesSign) return;
    var parse = Search._parseQuery;
    Search._parseQuery = function (query) {
      var plain = query.replace(TIMES, "$1x");
      var parsed = parse(plain);
      if (plain === query) return parsed;
      var words = parsed[3];                        // the words to highlight
      Array.from(words).forEach(function (w) {
        if (/\dx\d/.test(w)) words.add(w.replace(/(\d)x(?=\d)/g, "$1\u00d7"));
      });
      if (typeof SPHINX_HIGHLIGHT_ENABLED !== "undefined" && SPHINX_HIGHLIGHT_ENABLED) {
        localStorage.setItem("sphinx_highlight_terms", Array.from(words).join(" "));
      }
      return parsed;
    };
    Search._parseQuery.timesSign = true;
  }
  // before searchtools.js's own DOMContentLoaded handler (Search.init) runs the page's query
  function start() { forward(); landmark(); timesSign(); highlight(); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
  if (location.protocol === "file:" && typeof DOCUMENTATION_OPTIONS !== "undefined") {
    DOCUMENTATION_OPTIONS.SHOW_SEARCH_SUMMARY = false;
  }
})();
